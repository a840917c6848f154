/**
 * A first Jingzhun (精准) client, as a dashboard or a phone team would write it from the generated types: log in,
 * list the households you may see, read one card (扶贫手册), post a batch of visits (帮扶记录) as a cadre, and read
 * the problems (RFC 9457) the API answers with — with no cast and no `any`: every body below is typed by
 * `generated/api.d.ts`, which openapi-typescript generates from the merged OpenAPI document (`make contract`).
 *
 *   node dist/example.js [gateway] [username] [password]
 *   (defaults: http://127.0.0.1:8000 cadre.wang jingzhun-demo-2026, the demo cadre of `make run`)
 *
 * HTTP goes through openapi-fetch (one small runtime dependency, from the openapi-typescript project): it types
 * each call's path, parameters, body, answer and error from the same `paths` type, and does the one unavoidable
 * step from `response.json()` (untyped) to the documented type inside the library, so this program needs none.
 * Each line it prints starts with what it did; tests/platform/test_clients.py reads them.
 */
import { randomUUID } from "node:crypto";

import createClient from "openapi-fetch";

import type { components, paths } from "./generated/api.js";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];
type HelpRecordCreate = Schemas["HelpRecordCreate"];

const [gateway = "http://127.0.0.1:8000", username = "cadre.wang", password = "jingzhun-demo-2026"] =
  process.argv.slice(2);

class ProblemError extends Error {
  constructor(
    readonly step: string,
    readonly problem: Problem,
  ) {
    super(`${step}: ${describe(problem)}`);
  }
}

/** A problem in one line: status, code (when a rule refused), detail, and where each invalid input was. */
function describe(problem: Problem): string {
  const where = (problem.errors ?? []).map((field) => field.pointer ?? `${field.in ?? "?"}:${field.parameter ?? "?"}`);
  return (
    `status=${problem.status} code=${problem.code ?? "-"} pointers=${where.join(",") || "-"}` +
    ` instance=${problem.instance ?? "-"} detail=${problem.detail}`
  );
}

async function main(): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl: gateway });

  // 1. Log in: OAuth 2.0 password grant, a form body (RFC 6749), as every client of the platform does.
  const login = await anonymous.POST("/auth/token", {
    body: { grant_type: "password", username, password },
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  if (login.error) {
    throw new ProblemError("login", login.error);
  }
  const token = login.data.access_token;
  console.log(`logged in: ${username} (token expires in ${login.data.expires_in} s)`);

  const api = createClient<paths>({ baseUrl: gateway, headers: { Authorization: `Bearer ${token}` } });

  // 2. The households in the caller's scope (a cadre: the ones paired with them), one keyset page.
  const list = await api.GET("/api/registry/households", { params: { query: { limit: 50 } } });
  if (list.error) {
    throw new ProblemError("list households", list.error);
  }
  const households = list.data.items;
  console.log(`households listed: ${households.length} (next page: ${list.data.next_cursor ?? "none"})`);
  for (const household of households) {
    console.log(`  ${household.id} ${household.head_name} ${household.village_code} ${household.status}`);
  }
  const first = households[0];
  if (first === undefined) {
    throw new Error("no household to read: is the demo county loaded (make run)?");
  }

  // 3. One card: the household, its members, incomes, workflow and pairings in one answer.
  const card = await api.GET("/api/registry/households/{household_id}", {
    params: { path: { household_id: first.id } },
  });
  if (card.error) {
    throw new ProblemError("read card", card.error);
  }
  const members = card.data.members.map((member) => member.name).join("、");
  console.log(
    `card read: ${card.data.head_name} of ${card.data.village_name}, status ${card.data.status}, ` +
      `version ${card.data.version}, ${card.data.members.length} members (${members}), ` +
      `${card.data.pairings.length} pairings`,
  );

  // 4. A phone's queue of visits, synced in one batch: one per household, and one the server must refuse
  //    (a position needs both coordinates). Each record is judged on its own.
  const visit = (householdId: string): HelpRecordCreate => ({
    id: randomUUID(), // generated on the phone: a retry sends the same id and is recognised
    household_id: householdId,
    record_type: "visit",
    device_time: new Date().toISOString(),
    place: "那坡屯",
    gps_lat: 23.134521,
    gps_lon: 106.417788,
    content: "入户走访：了解生产生活情况 (home visit)",
    money_yuan: "0.00",
  });
  const refused: HelpRecordCreate = { ...visit(first.id), gps_lon: null };
  const batch = await api.POST("/api/registry/help-records/batch", {
    body: { records: [...households.map((household) => visit(household.id)), refused] },
  });
  if (batch.error) {
    throw new ProblemError("post batch", batch.error);
  }
  console.log(
    `batch answered: created=${batch.data.created} already_present=${batch.data.already_present} ` +
      `rejected=${batch.data.rejected}`,
  );
  for (const result of batch.data.results) {
    if (result.outcome === "rejected") {
      const pointers = (result.errors ?? []).map((field) => field.pointer).join(",");
      console.log(`  record ${result.index} rejected: ${result.status_code} ${pointers || "-"} ${result.detail}`);
    } else {
      console.log(`  record ${result.index} ${result.outcome}: ${result.id} version ${result.version}`);
    }
  }

  // 5. Problems: what a client reads when the API says no. An empty batch is a validation problem (each
  //    invalid input named by a JSON Pointer into the body); a visit to a household that is not yours is
  //    answered exactly like a missing one, with a stable `code` to switch on.
  const empty = await api.POST("/api/registry/help-records/batch", { body: { records: [] } });
  if (empty.error) {
    console.log(`problem read: ${describe(empty.error)}`);
  } else {
    throw new Error("an empty batch was accepted");
  }
  const stranger = await api.POST("/api/registry/help-records", { body: visit(randomUUID()) });
  if (stranger.error) {
    console.log(`problem read: ${describe(stranger.error)}`);
  } else {
    throw new Error(`a visit to an unknown household was recorded: ${stranger.data.id}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});

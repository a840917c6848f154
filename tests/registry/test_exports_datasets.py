"""Export datasets `help_records` and `pairings` beside `households` (issue #15): one pipeline, nested fields.

Pure tests hold each field catalogue to the public schema it exports (so an export never respells the API) and
check selection, projection and CSV cells of nested parts. Route tests build a small world through the API (two
registered households of 旧州村, a helping unit with two cadres, a pairing in force and one ended by a handover,
a help record with a photo and a signature) and compare every exported row with what the REST reads answer
for the same record: fields, nesting, masks. Then scope (another county: empty; a region not yours: 404), the
cadre's 403, an unknown dataset's 404, the snapshot (a write after the first chunk is not in the file) and the
one audit entry per export, for each dataset.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from services.registry.exports import domain, service
from services.registry.exports.repository import ExportRepository
from services.registry.help_records.schemas import (
    AttachmentPublic,
    ConfirmationPublic,
    GoodsItem,
    HelpRecordPublic,
    HelpRecordVersion,
    MeasureAdvanced,
)
from services.registry.pairing.schemas import CadrePublic, PairingPublic, UnitPublic
from shared.errors import Invalid, Missing, NotAllowed
from shared.jwt import SigningKey
from shared.roles import Role
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    SIBLING_VILLAGE,
    UNIT,
    VILLAGE,
    assert_problem,
    auth,
    create_household,
    issue,
)
from tests.registry.test_exports_routes import _raw_get

PLAIN = {"Accept-Encoding": "identity"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CADRE_SUB = "cadre-export-wang"


def _names(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


# -- pure: the catalogues are the schemas' own ----------------------------------------------------------------------
class TestCatalogues:
    def test_help_records_are_help_record_public(self) -> None:
        ds = domain.HELP_RECORDS
        nested = {n.name: n.fields for n in ds.nested}
        assert set(ds.fields) | set(nested) == set(_names(HelpRecordPublic))
        assert not set(ds.fields) & set(nested)
        assert [f for f in _names(HelpRecordPublic) if f in ds.fields] == list(
            ds.fields
        )  # the schema's order
        assert nested == {
            "goods": _names(GoodsItem),
            "measures": _names(MeasureAdvanced),
            "confirmations": _names(ConfirmationPublic),
            "attachments": _names(AttachmentPublic),
            "versions": _names(HelpRecordVersion),
        }
        assert all(n.many for n in ds.nested) and ds.audit_action == "help_record.export"

    def test_pairings_are_pairing_cadre_unit_public(self) -> None:
        ds = domain.PAIRINGS
        assert ds.fields == _names(PairingPublic)
        assert {n.name: (n.fields, n.many) for n in ds.nested} == {
            "cadre": (_names(CadrePublic), False),
            "unit": (_names(UnitPublic), False),
        }
        assert "phone_masked" in domain.CADRE_FIELDS and "phone" not in domain.CADRE_FIELDS
        assert ds.audit_action == "pairing.export"

    def test_datasets_and_labels(self) -> None:
        assert [d.value for d in domain.ExportDataset] == ["households", "help_records", "pairings"]
        assert [d.label for d in domain.ExportDataset] == ["贫困户", "帮扶记录", "结对帮扶"]
        assert domain.dataset_of("pairings") is domain.PAIRINGS
        assert domain.dataset_of("households").audit_action == "household.export"
        with pytest.raises(Missing) as caught:
            domain.dataset_of("cadres")
        assert caught.value.code == "unknown_export_dataset"

    def test_cadres_may_export_no_dataset(self) -> None:
        for ds in domain.DATASETS.values():
            with pytest.raises(NotAllowed):
                domain.check_exporter(Role.cadre, ds)
            domain.check_exporter(Role.province_system, ds)


class TestSelection:
    def test_nested_list_fields(self) -> None:
        sel = domain.parse_fields(
            "confirmations.party,id,attachments,confirmations.signatory", domain.HELP_RECORDS
        )
        assert sel.top == ("id",)
        assert [(n.name, f) for n, f in sel.nested] == [
            ("confirmations", ("party", "signatory")),
            ("attachments", domain.ATTACHMENT_FIELDS),
        ]
        assert sel.names() == ["id", "confirmations.party", "confirmations.signatory"] + [
            f"attachments.{f}" for f in domain.ATTACHMENT_FIELDS
        ]

    def test_nested_object_fields(self) -> None:
        sel = domain.parse_fields("unit.name,cadre.name,cadre.phone_masked,role", domain.PAIRINGS)
        assert sel.top == ("role",)
        assert [(n.name, f) for n, f in sel.nested] == [
            ("cadre", ("name", "phone_masked")),
            ("unit", ("name",)),
        ]

    @pytest.mark.parametrize(
        ("dataset", "name"),
        [
            (domain.HELP_RECORDS, "confirmations.nope"),
            (domain.HELP_RECORDS, "members.name"),  # a household's nested part, not a record's
            (domain.HELP_RECORDS, "content.x"),
            (domain.PAIRINGS, "cadre.phone"),  # only the masked phone exists
            (domain.PAIRINGS, "head_name"),
        ],
    )
    def test_unknown_fields(self, dataset: domain.Dataset, name: str) -> None:
        with pytest.raises(Invalid) as caught:
            domain.parse_fields(f"id,{name}", dataset)
        assert caught.value.code == "unknown_export_field" and caught.value.details["field"] == name

    def test_everything_has_no_duplicate_columns(self) -> None:
        for ds in domain.DATASETS.values():
            header = domain.csv_header(domain.FieldSelection.everything(ds))
            assert len(header) == len(set(header))

    def test_project_and_csv(self) -> None:
        record = {
            "id": "r1",
            "content": "=SUM(A1)",
            "confirmations": [{"party": "village_director", "signatory": "韦主任", "note": None}],
            "attachments": [],
        }
        sel = domain.parse_fields("id,content,confirmations.party,attachments.id", domain.HELP_RECORDS)
        row = domain.project(record, sel)
        assert row == {
            "id": "r1",
            "content": "=SUM(A1)",
            "confirmations": [{"party": "village_director"}],
            "attachments": [],
        }
        assert domain.csv_header(sel) == ["id", "content", "confirmations", "attachments"]
        assert domain.csv_row(row, sel) == ["r1", "'=SUM(A1)", '[{"party":"village_director"}]', "[]"]
        pairing = {"id": "p1", "cadre": {"name": "王干部", "phone_masked": "*******1234"}, "unit": None}
        sel = domain.parse_fields("id,cadre.name,cadre.phone_masked,unit.name", domain.PAIRINGS)
        row = domain.project(pairing, sel)
        assert row == {"id": "p1", "cadre": {"name": "王干部", "phone_masked": "*******1234"}, "unit": None}
        assert domain.csv_header(sel) == ["id", "cadre.name", "cadre.phone_masked", "unit.name"]
        assert domain.csv_row(row, sel) == ["p1", "王干部", "*******1234", ""]


# -- routes ---------------------------------------------------------------------------------------------------------
pytestmark = pytest.mark.usefixtures("seed_regions")


@dataclass
class World:
    households: list[str]
    unit_id: str
    cadres: list[str]
    record_id: str
    pairings: list[str]


def _hdr(key: SigningKey, role: str, region: str, sub: str | None = None) -> dict[str, str]:
    return auth(issue(key, role, region, sub=sub)) | PLAIN


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def db(db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return _hdr(signing_key, "village_officer", VILLAGE)


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return _hdr(signing_key, "county_admin", COUNTY)


async def _record(registry: httpx.AsyncClient, phone: dict[str, str], household_id: str, **kw: Any) -> str:
    record = {
        "id": str(uuid.uuid4()),
        "household_id": household_id,
        "record_type": "visit",
        "device_time": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "device_id": "phone-1",
        "content": "入户走访了解种植情况",
        "money_yuan": "200.00",
    } | kw
    _ok(await registry.post("/help-records", json=record, headers=phone))
    return str(record["id"])


@pytest.fixture
async def world(
    registry: httpx.AsyncClient,
    clerk: dict[str, str],
    admin: dict[str, str],
    db: asyncpg.Connection,
    signing_key: SigningKey,
) -> World:
    households = [await create_household(registry, clerk) for _ in range(2)]
    await db.execute("UPDATE registry_household SET status = 'registered'")  # pairing needs registered
    unit = _ok(await registry.post("/helping-units", json=UNIT, headers=admin))
    cadres = [
        _ok(
            await registry.post(
                "/cadres",
                json={
                    "unit_id": unit["id"],
                    "name": name,
                    "position_level": "staff",
                    "phone": "13800001234",
                    **({"user_sub": sub} if sub else {}),
                },
                headers=admin,
            )
        )["id"]
        for name, sub in (("王干部", CADRE_SUB), ("李干部", None))
    ]
    start = str((datetime.now(UTC) - timedelta(days=30)).date())
    body = {"household_id": households[0], "cadre_id": cadres[0], "valid_from": start}
    first = _ok(await registry.post("/pairings", json=body, headers=admin))
    body = {"household_id": households[1], "cadre_id": cadres[0], "valid_from": start}
    second = _ok(await registry.post("/pairings", json=body, headers=admin))
    today = str(datetime.now(UTC).date())
    end = {"valid_to": today, "end_reason": "handover", "successor": {"cadre_id": cadres[1]}}
    ended = _ok(await registry.post(f"/pairings/{second['id']}/end", json=end, headers=admin), 200)
    phone = _hdr(signing_key, "cadre", VILLAGE, sub=CADRE_SUB)
    record_id = await _record(registry, phone, households[0])
    _ok(
        await registry.post(
            f"/help-records/{record_id}/attachments",
            content=PNG,
            headers=phone | {"Content-Type": "image/png"},
        )
    )
    director = {"party": "village_director", "signatory": "韦主任"}
    _ok(await registry.post(f"/help-records/{record_id}/confirmations", json=director, headers=clerk))
    pairings = [first["id"], second["id"], ended["successor"]["id"]]
    return World(households, unit["id"], cadres, record_id, pairings)


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


def _csv(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    raw = response.content
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


class TestHelpRecords:
    async def test_rows_are_the_api_records(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], world: World
    ) -> None:
        body = _lines(await registry.get("/exports/help_records", headers=clerk))
        rows, trailer = body[:-1], body[-1]["_trailer"]
        assert trailer["rows"] == 1 and len(rows) == 1
        api = _ok(await registry.get(f"/help-records/{world.record_id}", headers=clerk), 200)
        assert rows[0] == api  # every key, nested lists and all, as the REST read answers
        assert rows[0]["confirmations"][0]["party"] == "village_director"
        assert len(rows[0]["attachments"]) == 1 and rows[0]["attachments"][0]["content_type"] == "image/png"

    async def test_newest_version_only(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], signing_key: SigningKey, world: World
    ) -> None:
        """A corrected record is one row, at its newest version, with every version's metadata nested."""
        phone = _hdr(signing_key, "cadre", VILLAGE, sub=CADRE_SUB)
        device_time = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        rid = await _record(registry, phone, world.households[0], device_time=device_time)
        fix = {
            "record_type": "visit",
            "device_time": device_time,
            "content": "更正: 入户走访",
            "correction_reason": "错别字",
        }
        corrected = await registry.post(
            f"/help-records/{rid}/versions", json=fix, headers=phone | {"If-Match": '"1"'}
        )
        assert corrected.status_code == 201, corrected.text
        params = {"fields": "id,version,content,versions.version"}
        rows = _lines(await registry.get("/exports/help_records", params=params, headers=clerk))[:-1]
        assert sorted(r["id"] for r in rows) == sorted([world.record_id, rid])
        [row] = [r for r in rows if r["id"] == rid]
        assert row == {
            "id": rid,
            "version": 2,
            "content": "更正: 入户走访",
            "versions": [{"version": 1}, {"version": 2}],
        }

    async def test_nested_field_selection_ndjson_and_csv(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], world: World
    ) -> None:
        params = {"fields": "id,confirmations.party,confirmations.signatory,attachments.size"}
        [row, _] = _lines(await registry.get("/exports/help_records", params=params, headers=clerk))
        assert row == {
            "id": world.record_id,
            "confirmations": [{"party": "village_director", "signatory": "韦主任"}],
            "attachments": [{"size": len(PNG)}],
        }
        table = _csv(
            await registry.get("/exports/help_records", params=params | {"format": "csv"}, headers=clerk)
        )
        assert table[0] == ["id", "confirmations", "attachments"]
        assert table[1][0] == world.record_id
        assert (
            json.loads(table[1][1]) == row["confirmations"] and json.loads(table[1][2]) == row["attachments"]
        )
        assert len(table) == 2  # no trailer in CSV

    async def test_unknown_nested_field_422(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        response = await registry.get(
            "/exports/help_records", params={"fields": "confirmations.x"}, headers=clerk
        )
        assert assert_problem(response, 422)["code"] == "unknown_export_field"


class TestPairings:
    async def test_rows_are_the_api_pairings_with_cadre_and_unit(
        self, registry: httpx.AsyncClient, admin: dict[str, str], world: World
    ) -> None:
        body = _lines(await registry.get("/exports/pairings", headers=admin))
        rows, trailer = body[:-1], body[-1]["_trailer"]
        assert trailer["rows"] == 3 == len(rows)
        assert sorted(r["id"] for r in rows) == sorted(world.pairings)
        assert sum(r["valid_to"] is not None for r in rows) == 1  # the ended pairing is in, as ended
        for household_id in world.households:
            items = _ok(await registry.get(f"/households/{household_id}/pairings", headers=admin), 200)[
                "items"
            ]
            for item in items:
                [row] = [r for r in rows if r["row_id"] == item["row_id"]]
                assert {k: row[k] for k in domain.PAIRING_FIELDS} == {
                    k: item[k] for k in domain.PAIRING_FIELDS
                }
                assert row["cadre"]["name"] == item["cadre_name"] and row["unit"]["name"] == item["unit_name"]
        for row in rows:
            cadre = _ok(await registry.get(f"/cadres/{row['cadre_id']}", headers=admin), 200)
            assert row["cadre"] == cadre  # the phone masked exactly as the API masks it
            unit = _ok(await registry.get(f"/helping-units/{row['unit_id']}", headers=admin), 200)
            assert row["unit"] == unit
        assert all("1380000" not in json.dumps(r) for r in rows)  # no full phone anywhere

    async def test_nested_object_fields_csv(
        self, registry: httpx.AsyncClient, admin: dict[str, str], world: World
    ) -> None:
        params = {"format": "csv", "fields": "id,cadre.name,cadre.phone_masked,unit.name"}
        response = await registry.get("/exports/pairings", params=params, headers=admin)
        table = _csv(response)
        assert table[0] == ["id", "cadre.name", "cadre.phone_masked", "unit.name"]
        assert len(table) == 4 and {r[3] for r in table[1:]} == {UNIT["name"]}
        assert {r[1] for r in table[1:]} == {"王干部", "李干部"}
        assert all(r[2] and r[2].endswith("1234") and "13800001234" != r[2] for r in table[1:])
        assert response.headers["content-disposition"] == f'attachment; filename="pairings-{COUNTY}.csv"'


class TestScopeAndRefusals:
    @pytest.mark.parametrize("dataset", ["households", "help_records", "pairings"])
    async def test_other_regions_see_nothing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, world: World, dataset: str
    ) -> None:
        township = _hdr(signing_key, "township_officer", OTHER_TOWNSHIP)
        body = _lines(await registry.get(f"/exports/{dataset}", headers=township))
        assert body == [body[-1]] and body[-1]["_trailer"]["rows"] == 0
        sibling = _hdr(signing_key, "village_officer", SIBLING_VILLAGE)
        assert _lines(await registry.get(f"/exports/{dataset}", headers=sibling))[-1]["_trailer"]["rows"] == 0
        mine = _hdr(signing_key, "village_officer", VILLAGE)
        assert _lines(await registry.get(f"/exports/{dataset}", headers=mine))[-1]["_trailer"]["rows"] > 0
        other = _hdr(signing_key, "county_admin", OTHER_COUNTY)
        outside = await registry.get(f"/exports/{dataset}", params={"region": COUNTY}, headers=other)
        assert_problem(outside, 404, f"region {COUNTY} not found")

    @pytest.mark.parametrize("dataset", ["help_records", "pairings"])
    async def test_cadre_403(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, dataset: str
    ) -> None:
        cadre = _hdr(signing_key, "cadre", VILLAGE, sub=CADRE_SUB)
        response = await registry.get(f"/exports/{dataset}", headers=cadre)
        assert assert_problem(response, 403)["code"] == "export_not_allowed"

    async def test_unknown_dataset_404(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        response = await registry.get("/exports/cadres", headers=clerk)
        problem = assert_problem(response, 404)
        assert problem["code"] == "unknown_export_dataset" and "cadres" in problem["detail"]
        zh = await registry.get("/exports/cadres", headers=clerk | {"Accept-Language": "zh-CN"})
        assert "导出数据集 cadres 不存在" in assert_problem(zh, 404)["detail"]


class TestSnapshotAndAudit:
    async def test_a_help_record_written_after_the_first_chunk_is_not_in_it(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        clerk: dict[str, str],
        signing_key: SigningKey,
        world: World,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        phone = _hdr(signing_key, "cadre", VILLAGE, sub=CADRE_SUB)
        await _record(registry, phone, world.households[0], content="第二次走访")
        monkeypatch.setattr(ExportRepository, "CHUNK", 1)
        monkeypatch.setattr(service, "FLUSH_CHARS", 1)
        added: list[str] = []

        async def write_elsewhere(pieces: int) -> None:
            if pieces == 1:
                added.append(await _record(registry, phone, world.households[0], content="导出中写入"))

        raw = await _raw_get(
            registry_app, "/exports/help_records", "fields=id,content", clerk, write_elsewhere
        )
        body = [json.loads(line) for line in raw.decode().splitlines()]
        assert added and added[0] not in {r.get("id") for r in body[:-1]}
        assert body[-1]["_trailer"]["rows"] == 2 == len(body) - 1
        live = _lines(await registry.get("/exports/help_records", params={"fields": "id"}, headers=clerk))
        assert added[0] in {r.get("id") for r in live[:-1]}

    @pytest.mark.parametrize(
        ("dataset", "action", "rows"),
        [("help_records", "help_record.export", 1), ("pairings", "pairing.export", 3)],
    )
    async def test_one_audit_entry(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        db: asyncpg.Connection,
        world: World,
        dataset: str,
        action: str,
        rows: int,
    ) -> None:
        response = await registry.get(
            f"/exports/{dataset}", params={"format": "csv", "fields": "id"}, headers=admin
        )
        assert response.status_code == 200
        entries = await db.fetch("SELECT * FROM registry_audit_event WHERE action = $1", action)
        assert len(entries) == 1
        entry = entries[0]
        assert entry["role"] == "county_admin" and entry["region_code"] == COUNTY
        detail = json.loads(entry["detail"]) if isinstance(entry["detail"], str) else entry["detail"]
        assert detail["dataset"] == dataset and detail["rows"] == rows and detail["complete"] is True
        assert detail["fields"] == ["id"] and detail["feed_cursor"] == response.headers["x-feed-cursor"]
        assert (
            await db.fetchval("SELECT count(*) FROM registry_audit_event WHERE action = 'household.export'")
            == 0
        )

    async def test_gzip(self, registry: httpx.AsyncClient, admin: dict[str, str], world: World) -> None:
        response = await registry.get(
            "/exports/pairings", params={"fields": "id"}, headers=admin | {"Accept-Encoding": "gzip"}
        )
        assert response.headers["content-encoding"] == "gzip"
        assert json.loads(response.text.splitlines()[-1])["_trailer"]["rows"] == 3  # httpx decodes it

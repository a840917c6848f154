"""Who signs the record card (签字确认, issue #13 item 10; DOMAIN.md §3.2 [S 000]).

Three parties, three people: the household head (as the head's own act: a signature image captured on the
cadre's phone and attached to the record, never the cadre's login), the village director (a village officer of
the household's village), the helping unit's responsible person (the unit's linked responsible login when it has
one, reg0014; else a township or county officer). One principal, or one signatory name, signs one party of a
record.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.registry.help_records import domain
from services.registry.help_records.domain import ConfirmationParty
from shared.errors import Invalid, Refused
from shared.jwt import SigningKey
from shared.roles import Role
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, assert_problem, auth, issue
from tests.registry import test_help_records_routes as base
from tests.registry.test_help_records_routes import (
    Db,
    Headers,
    Phone,
    head_signature,
    new_household,
    posted,
    record,
)

# The help-record route fixtures, shared with tests/registry/test_help_records_routes.py.
clerk, db, phone, township = base.clerk, base.db, base.phone, base.township

pytestmark = pytest.mark.usefixtures("seed_regions")


class TestDomain:
    def test_the_cadre_signs_only_for_the_head(self) -> None:
        assert domain.may_confirm(ConfirmationParty.household_head, Role.cadre, own_record=True)
        assert not domain.may_confirm(ConfirmationParty.unit_responsible, Role.cadre, own_record=True)
        assert not domain.may_confirm(ConfirmationParty.village_director, Role.cadre, own_record=True)

    def test_the_director_is_of_the_household_village(self) -> None:
        party = ConfirmationParty.village_director
        assert domain.may_confirm(party, Role.village_officer, own_record=False, own_village=True)
        assert not domain.may_confirm(party, Role.village_officer, own_record=False, own_village=False)

    def test_head_evidence(self) -> None:
        photo = uuid.uuid4()
        head = ConfirmationParty.household_head
        domain.check_head_evidence(head, photo, {photo})
        domain.check_head_evidence(ConfirmationParty.village_director, None, set())
        for evidence, code in (
            (None, "signature_evidence_required"),
            (uuid.uuid4(), "signature_evidence_unknown"),
        ):
            with pytest.raises(Invalid) as caught:
                domain.check_head_evidence(head, evidence, {photo})
            assert caught.value.code == code

    def test_the_head_signs_as_the_head(self) -> None:
        photo = uuid.uuid4()
        assert domain.signer_of(ConfirmationParty.household_head, "cadre-sub", photo) == f"signature:{photo}"
        assert domain.signer_of(ConfirmationParty.village_director, "officer", None) == "officer"

    def test_one_principal_one_party(self) -> None:
        signed = [("household_head", "signature:x", "黄志强"), ("village_director", "officer-1", "韦主任")]
        domain.check_distinct_signer(
            ConfirmationParty.unit_responsible, signer="t", signatory="李局长", signed=signed
        )
        # the same party again is check_resign's business
        domain.check_distinct_signer(
            ConfirmationParty.village_director, signer="officer-1", signatory="韦主任", signed=signed
        )
        for signer, name in (("officer-1", "李局长"), ("t", " 黄志强 ")):
            with pytest.raises(Refused) as caught:
                domain.check_distinct_signer(
                    ConfirmationParty.unit_responsible, signer=signer, signatory=name, signed=signed
                )
            assert caught.value.code == "signer_already_signed"


class TestRoutes:
    async def test_head_needs_the_captured_signature(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body, other = record(hid), record(hid)
        await posted(registry, phone, body)
        await posted(registry, phone, other)
        url = f"/help-records/{body['id']}/confirmations"
        bare = {"party": "household_head", "signatory": "黄志强"}
        refused = await registry.post(url, json=bare, headers=phone.headers)
        assert assert_problem(refused, 422)["code"] == "signature_evidence_required"
        elsewhere = await head_signature(registry, phone, other["id"])  # a photo of another record
        refused = await registry.post(url, json=elsewhere, headers=phone.headers)
        assert assert_problem(refused, 422)["code"] == "signature_evidence_unknown"
        head = await head_signature(registry, phone, body["id"])
        signed = await registry.post(url, json=head, headers=phone.headers)
        assert signed.status_code == 201, signed.text
        [confirmation] = signed.json()["confirmations"]
        assert confirmation["confirmed_by"] == f"signature:{head['signature_attachment_id']}"
        assert confirmation["confirmed_by"] != phone.sub
        assert (await registry.post(url, json=head, headers=phone.headers)).status_code == 200  # a retry

    async def test_the_cadre_does_not_sign_for_the_unit(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        unit = {"party": "unit_responsible", "signatory": "王干部"}
        refused = await registry.post(
            f"/help-records/{body['id']}/confirmations", json=unit, headers=phone.headers
        )
        assert assert_problem(refused, 403)["code"] == "may_not_confirm"

    async def test_director_of_the_household_village_only(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        url = f"/help-records/{body['id']}/confirmations"
        director = {"party": "village_director", "signatory": "韦主任"}
        wide = auth(issue(signing_key, "village_officer", TOWNSHIP))  # in scope, not of the village
        assert (
            assert_problem(await registry.post(url, json=director, headers=wide), 403)["code"]
            == "may_not_confirm"
        )
        assert (await registry.post(url, json=director, headers=clerk)).status_code == 201

    async def test_three_different_people(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        rid = body["id"]
        url = f"/help-records/{rid}/confirmations"
        assert (
            await registry.post(url, json=await head_signature(registry, phone, rid), headers=phone.headers)
        ).status_code == 201
        same_name = {"party": "village_director", "signatory": "黄志强"}
        refused = await registry.post(url, json=same_name, headers=clerk)
        assert assert_problem(refused, 409)["code"] == "signer_already_signed"
        assert (
            await registry.post(url, json={"party": "village_director", "signatory": "韦主任"}, headers=clerk)
        ).status_code == 201
        county = auth(issue(signing_key, "county_admin", COUNTY))
        done = await registry.post(
            url, json={"party": "unit_responsible", "signatory": "李局长"}, headers=county
        )
        assert done.status_code == 201, done.text
        assert done.json()["confirmation_status"] == "confirmed"

    async def test_one_login_signs_one_party(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        """A signature stored under the old rule (the cadre's or an officer's login for another party) keeps that
        login from signing a second party."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        officer = str(uuid.uuid4())
        await db.run(
            "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by, signatory)"
            " VALUES ($1, 'household_head', now(), $2, '黄志强')",
            uuid.UUID(body["id"]),
            officer,
        )
        director = {"party": "village_director", "signatory": "韦主任"}
        same = auth(issue(signing_key, "village_officer", VILLAGE, sub=officer))
        refused = await registry.post(
            f"/help-records/{body['id']}/confirmations", json=director, headers=same
        )
        assert assert_problem(refused, 409)["code"] == "signer_already_signed"


# == the unit's responsible person signs as themself (issue #13 item 10 leftover; reg0014) ====================
class TestUnitResponsibleDomain:
    def test_a_linked_login_is_the_only_unit_signer(self) -> None:
        unit = ConfirmationParty.unit_responsible
        for role in (Role.township_officer, Role.county_admin):
            assert domain.may_confirm(unit, role, own_record=False)  # the fallback: no login linked
            assert not domain.may_confirm(unit, role, own_record=False, unit_linked=True)
        for role in (Role.cadre, Role.village_officer, Role.township_officer):
            assert domain.may_confirm(unit, role, own_record=False, unit_linked=True, unit_responsible=True)
        # Being the unit's responsible person gives no other party.
        assert not domain.may_confirm(
            ConfirmationParty.village_director, Role.cadre, own_record=False, unit_responsible=True
        )


class TestUnitResponsibleSigns:
    @staticmethod
    async def unit_of(db: Db, phone: Phone) -> uuid.UUID:
        [row] = await db.run("SELECT unit_id FROM registry_cadre WHERE id = $1", phone.cadre_id)
        unit: uuid.UUID = row["unit_id"]
        return unit

    @staticmethod
    async def tag_of(db: Db, unit: uuid.UUID) -> str:
        """The unit's ETag (the fixture's units carry a kind of the old code list, so not read over the API)."""
        [row] = await db.run("SELECT version FROM registry_helping_unit WHERE id = $1", unit)
        return f'"{row["version"]}"'

    async def link(
        self, registry: httpx.AsyncClient, admin: Headers, db: Db, unit: uuid.UUID, sub: str | None
    ) -> httpx.Response:
        return await registry.put(
            f"/helping-units/{unit}/responsible",
            json={"responsible_sub": sub, "reason": "单位责任人登记"},
            headers=admin | {"If-Match": await self.tag_of(db, unit)},
        )

    @pytest.fixture
    def admin(self, signing_key: SigningKey) -> Headers:
        return auth(issue(signing_key, "county_admin", COUNTY, sub="admin-jingxi"))

    async def test_linked_login_signs_and_officers_are_refused(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        url = f"/help-records/{body['id']}/confirmations"
        unit = await self.unit_of(db, phone)
        boss = f"boss-{uuid.uuid4().hex[:8]}"
        linked = await self.link(registry, admin, db, unit, boss)
        assert linked.status_code == 200, linked.text
        assert linked.json()["responsible_sub"] == boss
        audits = await db.run(
            "SELECT detail FROM registry_audit_event WHERE record_id = $1 AND action = 'unit.responsible'",
            str(unit),
        )
        assert len(audits) == 1
        sign = {"party": "unit_responsible", "signatory": "李局长"}
        # The officers' fallback is closed once a login is linked.
        for officer in (township, admin):
            refused = await registry.post(url, json=sign, headers=officer)
            assert assert_problem(refused, 403)["code"] == "may_not_confirm"
        # The responsible login (a cadre of the unit, not paired with the household) signs as themself.
        responsible = auth(issue(signing_key, "cadre", COUNTY, sub=boss))
        signed = await registry.post(url, json=sign, headers=responsible)
        assert signed.status_code == 201, signed.text
        [confirmation] = signed.json()["confirmations"]
        assert confirmation["party"] == "unit_responsible" and confirmation["confirmed_by"] == boss
        assert (await registry.post(url, json=sign, headers=responsible)).status_code == 200  # a retry
        # Still only the unit's part: the record itself stays out of their reach.
        assert_problem(await registry.get(f"/help-records/{body['id']}", headers=responsible), 404)

    async def test_the_responsible_person_signs_no_other_party(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        url = f"/help-records/{body['id']}/confirmations"
        boss = f"boss-{uuid.uuid4().hex[:8]}"
        assert (await self.link(registry, admin, db, await self.unit_of(db, phone), boss)).status_code == 200
        # The responsible person happens to be a village officer of the household's village.
        responsible = auth(issue(signing_key, "village_officer", VILLAGE, sub=boss))
        signed = await registry.post(
            url, json={"party": "unit_responsible", "signatory": "李局长"}, headers=responsible
        )
        assert signed.status_code == 201, signed.text
        refused = await registry.post(
            url, json={"party": "village_director", "signatory": "韦主任"}, headers=responsible
        )
        assert assert_problem(refused, 409)["code"] == "signer_already_signed"

    async def test_fallback_when_not_linked_or_unlinked(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db: Db,
        phone: Phone,
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        first, second = record(hid), record(hid)
        await posted(registry, phone, first)
        await posted(registry, phone, second)
        sign = {"party": "unit_responsible", "signatory": "李局长"}
        done = await registry.post(f"/help-records/{first['id']}/confirmations", json=sign, headers=township)
        assert done.status_code == 201, done.text
        unit = await self.unit_of(db, phone)
        assert (await self.link(registry, admin, db, unit, "boss-x")).status_code == 200
        unlinked = await self.link(registry, admin, db, unit, None)
        assert unlinked.status_code == 200 and unlinked.json()["responsible_sub"] is None
        done = await registry.post(f"/help-records/{second['id']}/confirmations", json=sign, headers=township)
        assert done.status_code == 201, done.text

    async def test_another_units_responsible_login_is_told_missing(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        assert (
            await self.link(registry, admin, db, await self.unit_of(db, phone), "boss-a")
        ).status_code == 200
        other = Phone(signing_key, db)
        await other.register()  # a cadre of another unit
        assert (
            await self.link(registry, admin, db, await self.unit_of(db, other), "boss-b")
        ).status_code == 200
        stranger = auth(issue(signing_key, "cadre", COUNTY, sub="boss-b"))
        sign = {"party": "unit_responsible", "signatory": "张局长"}
        refused = await registry.post(
            f"/help-records/{body['id']}/confirmations", json=sign, headers=stranger
        )
        missing = await registry.post(
            f"/help-records/{uuid.uuid4()}/confirmations", json=sign, headers=stranger
        )
        assert_problem(refused, 404)
        assert_problem(missing, 404)
        assert (
            await db.run(
                "SELECT 1 FROM registry_help_confirmation WHERE record_id = $1", uuid.UUID(body["id"])
            )
            == []
        )

    async def test_only_the_county_links_and_bad_input_changes_nothing(
        self,
        registry: httpx.AsyncClient,
        township: Headers,
        admin: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        unit = await self.unit_of(db, phone)
        tag = await self.tag_of(db, unit)
        url = f"/helping-units/{unit}/responsible"
        refused = await registry.put(url, json={"responsible_sub": "x"}, headers=township | {"If-Match": tag})
        assert assert_problem(refused, 403)["code"] == "unit_responsible_not_allowed"
        elsewhere = auth(issue(signing_key, "county_admin", "451026000000"))
        assert_problem(
            await registry.put(url, json={"responsible_sub": "x"}, headers=elsewhere | {"If-Match": tag}), 404
        )
        assert_problem(
            await registry.put(url, json={"responsible_sub": "  "}, headers=admin | {"If-Match": tag}), 422
        )
        assert_problem(
            await registry.put(url, json={"responsible_sub": "x"}, headers=admin | {"If-Match": '"99"'}), 412
        )
        assert_problem(await registry.put(url, json={"responsible_sub": "x"}, headers=admin), 428)
        [row] = await db.run("SELECT responsible_sub, version FROM registry_helping_unit WHERE id = $1", unit)
        assert row["responsible_sub"] is None and f'"{row["version"]}"' == tag

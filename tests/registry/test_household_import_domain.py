"""The rules of a bulk registration (services/registry/household_import/domain.py), with no database; and the
benchmark's synthetic households (bench/registry_data.py): valid IDs, one head per household, valid lines."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from bench.registry_data import VILLAGES, generate
from services.registry.household_import import domain
from services.registry.household_import.schemas import BulkHousehold
from services.registry.households.domain import id_warnings, parse_resident_id
from shared.errors import Invalid, NotAllowed
from shared.roles import Principal, Role

TODAY = date(2026, 11, 23)


def test_generator_makes_valid_unique_people() -> None:
    households = list(generate(300, seed=11))
    assert households == list(generate(300, seed=11))  # deterministic
    numbers = [m["resident_id_number"] for h in households for m in h["members"]]
    assert len(numbers) == len(set(numbers))
    for h in households:
        assert Counter(m["relation"] for m in h["members"])["head"] == 1
        assert h["village_code"] in VILLAGES
        for m in h["members"]:
            info = parse_resident_id(m["resident_id_number"], today=TODAY)
            assert info.region_of_issue == "451025"
            assert id_warnings(m["resident_id_number"], m["sex"], m["birth_year_month"]) == []
        BulkHousehold.model_validate(h)
    assert Counter(h["poverty_cause_primary"] for h in households).most_common(1)[0][0] in {
        "illness",
        "lack_of_capital",
        "lack_of_skills",
        "lack_of_labor",
    }


class TestImportRules:
    def test_only_the_county_imports(self) -> None:
        domain.require_importer(Role.county_admin)
        for role in (Role.township_officer, Role.village_officer, Role.province_system, Role.cadre):
            with pytest.raises(NotAllowed):
                domain.require_importer(role)

    def test_a_file_holds_households(self) -> None:
        domain.require_lines(1)
        domain.require_lines(domain.MAX_LINES)
        with pytest.raises(Invalid, match="split the file"):
            domain.require_lines(domain.MAX_LINES + 1)
        with pytest.raises(Invalid) as info:
            domain.require_lines(0)
        assert info.value.code == "empty_file" and info.value.details == {"errors": []}

    def test_regions_of_a_line(self) -> None:
        admin = Principal(sub="a", role=Role.county_admin, region="451025000000")
        assert domain.region_problem(admin, "451025100201") is None
        assert (
            domain.region_problem(admin, "451025100000") == "village_code must be an administrative village"
        )
        assert domain.region_problem(admin, "451026100201") == "region 451026100201 lies outside your scope"

    def test_errors_stop_at_the_limit(self) -> None:
        errors = domain.ImportErrors()
        for line in range(domain.MAX_ERRORS, 0, -1):
            errors.add(line, "", "bad")
        assert errors.full and not errors.truncated
        errors.add(0, "", "one more")
        assert errors.truncated and len(errors.items) == domain.MAX_ERRORS
        assert errors.total == domain.MAX_ERRORS + 1  # every error is counted, beyond those listed
        errors.sort()
        assert [e.line for e in errors.items[:2]] == [1, 2]

    def test_a_job_keeps_every_error(self) -> None:
        errors = domain.ImportErrors(limit=None)
        for line in range(1, 301):
            errors.add(line, "", "bad")
        assert len(errors.items) == errors.total == 300 and not errors.truncated

    def test_json_pointers(self) -> None:
        assert domain.json_pointer(("members", 0, "resident_id_number")) == "/members/0/resident_id_number"
        assert domain.json_pointer(("a/b", "c~d")) == "/a~1b/c~0d"
        assert domain.json_pointer(()) == ""

    def test_the_file_repeats_no_person_and_no_household_code(self) -> None:
        seen = domain.FileIdentity()
        assert seen.repeated_code("N-1", 1) is None
        assert seen.repeated_code("N-1", 1) is None  # the same line again
        assert seen.repeated_code("N-1", 3) == "national_household_code repeats line 1"
        assert seen.repeated_person("index", 1, "/members/0/resident_id_number") is None
        assert (
            seen.repeated_person("index", 2, "/members/1/resident_id_number")
            == "the resident ID number repeats line 1 (/members/0/resident_id_number): one person, one household"
        )

"""zh-CN labels of the code lists (shared/labels.py): every member labelled, one name per list, and the labels in
every OpenAPI schema of a code list as `x-enum-descriptions` (pure: no database)."""

from __future__ import annotations

import enum
import importlib
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.labels import CodeList, LabelledEnum, code_list, code_lists, label_of, lookup
from shared.roles import RegionLevel, Role

#: The modules whose enums are the registry's code lists (importing them files the lists).
REGISTRY_MODULES = (
    "services.registry.households.domain",
    "services.registry.households.schemas",
    "services.registry.identification.domain",
    "services.registry.pairing.domain",
    "services.registry.help_plans.domain",
    "services.registry.help_records.domain",
    "services.registry.regions.domain",
    "services.registry.monitoring.domain",
)

#: Lists the brief names (DOMAIN.md §1.1, §1.4, §2.2-§2.7, §2.15, §3.1-§3.2, §4.1, §5.6, §2.17).
EXPECTED_LISTS = {
    "poverty_cause",
    "relation_to_head",
    "sex",
    "labor_capacity",
    "health_status",
    "education_level",
    "school_status",
    "work_status",
    "work_location",
    "main_income_source",
    "house_structure",
    "dangerous_house_grade",
    "poverty_attribute",
    "social_security_item",
    "left_reason",
    "integrity_flag",
    "household_record_status",
    "workflow_status",
    "workflow_command",
    "role",
    "region_level",
    "region_status",
    "measure",
    "help_record_type",
    "evidence_flag",
    "confirmation_party",
    "confirmation_status",
    "pairing_role",
    "pairing_end_reason",
    "funding_source",
    "monitoring_half",
    "helping_unit_kind",
}


@pytest.fixture(scope="module")
def registered() -> dict[str, CodeList]:
    for module in REGISTRY_MODULES:
        importlib.import_module(module)
    return dict(code_lists())


class Cause(LabelledEnum):
    """A sample list (not registered)."""

    illness = "illness", "因病"
    lack_of_land = "lack_of_land", "缺土地"
    schooling = "schooling", "因学", "Schooling costs"


class TestLabelledEnum:
    def test_the_value_is_the_plain_code(self) -> None:
        cause = Cause  # the class under test
        assert (
            cause.illness == "illness" and str(cause.illness) == "illness" and f"{cause.illness}" == "illness"
        )
        assert cause("illness") is cause.illness
        assert cause.illness.value == "illness"

    def test_members_carry_their_labels(self) -> None:
        cause = Cause  # the class under test
        assert cause.illness.label == "因病"
        assert cause.lack_of_land.english == "Lack of land"  # the code read as words
        assert cause.schooling.english == "Schooling costs"  # the one given

    def test_a_member_without_a_label_is_refused(self) -> None:
        with pytest.raises(ValueError, match="zh-CN label"):

            class Unlabelled(LabelledEnum):
                bare = "bare", " "

    def test_a_list_name_is_snake_case(self) -> None:
        with pytest.raises(ValueError, match="snake_case"):
            code_list("Poverty-Cause", "致贫原因", "Poverty cause")

    def test_one_name_names_one_list(self, registered: dict[str, CodeList]) -> None:
        assert "poverty_cause" in registered
        with pytest.raises(ValueError, match="already"):
            code_list("poverty_cause", "致贫原因", "Poverty cause")(Cause)

    def test_only_labelled_enums_register(self) -> None:
        class Plain(enum.StrEnum):
            a = "a"

        with pytest.raises(TypeError):
            code_list("plain_sample", "样例", "Sample")(Plain)  # type: ignore[type-var]

    def test_json_schema_carries_labels_and_names(self) -> None:

        class Model(BaseModel):
            one: Cause
            many: list[Cause] = []
            maybe: Cause | None = None

        schema = Model.model_json_schema()["$defs"]["Cause"]
        assert schema["enum"] == ["illness", "lack_of_land", "schooling"]
        assert schema["x-enum-descriptions"] == ["因病", "缺土地", "因学"]
        assert schema["x-enum-varnames"] == ["illness", "lack_of_land", "schooling"]


class TestRegistry:
    def test_the_lists_a_client_sees_are_registered(self, registered: dict[str, CodeList]) -> None:
        assert EXPECTED_LISTS <= set(registered)

    def test_every_member_of_every_list_has_labels(self, registered: dict[str, CodeList]) -> None:
        for name, found in registered.items():
            assert found.label.strip() and found.english.strip(), name
            assert len(found.enum) > 0, name
            for member in found.enum:
                assert member.label.strip(), f"{name}.{member.name} has no zh-CN label"
                assert member.english.strip(), f"{name}.{member.name} has no English label"

    def test_labels_are_unique_within_a_list(self, registered: dict[str, CodeList]) -> None:
        for name, found in registered.items():
            labels = [member.label for member in found.enum]
            assert len(labels) == len(set(labels)), name

    def test_the_sixteen_poverty_causes(self, registered: dict[str, CodeList]) -> None:
        causes = registered["poverty_cause"].enum
        assert len(causes) == 16
        assert causes("illness").label == "因病" and causes("lack_of_land").label == "缺土地"
        assert causes("low_motivation").label == "自身发展动力不足"

    def test_roles_and_region_levels(self) -> None:
        assert Role.cadre.label == "帮扶干部" and Role.county_admin.label == "县扶贫办"
        assert RegionLevel.village.label == "行政村 / 社区"
        assert lookup("role") is not None and label_of("role", "cadre") == "帮扶干部"
        assert label_of("role", "nobody") is None and label_of("no_such_list", "cadre") is None

    def test_one_measure_catalogue(self, registered: dict[str, CodeList]) -> None:
        from services.registry.help_plans.domain import Measure
        from services.registry.help_records.domain import MeasureCode

        assert MeasureCode is Measure and registered["measure"].enum is Measure


def _enum_schemas(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in doc["components"]["schemas"].items() if "enum" in v}


@pytest.fixture(scope="module")
def registry_openapi() -> dict[str, Any]:
    from services.registry.main import create_app
    from services.registry.settings import RegistrySettings

    app: FastAPI = create_app(
        RegistrySettings(environment="test", database_url="postgresql://nobody@127.0.0.1:9/none")
    )
    return app.openapi()


class TestOpenAPI:
    def test_every_enum_schema_carries_its_labels(self, registry_openapi: dict[str, Any]) -> None:
        schemas = _enum_schemas(registry_openapi)
        assert {"PovertyCause", "FromStatus", "StatusFilter", "Measure", "RegionLevel"} <= set(schemas)
        for name, schema in schemas.items():
            assert "x-enum-descriptions" in schema, f"{name}: a code list without labels (use LabelledEnum)"
            assert len(schema["x-enum-descriptions"]) == len(schema["enum"]), name
            assert len(schema["x-enum-varnames"]) == len(schema["enum"]), name
            assert all(label.strip() for label in schema["x-enum-descriptions"]), name

    def test_labels_follow_member_order(self, registry_openapi: dict[str, Any]) -> None:
        cause = registry_openapi["components"]["schemas"]["PovertyCause"]
        assert cause["enum"][:3] == ["illness", "disability", "schooling"]
        assert cause["x-enum-descriptions"][:3] == ["因病", "因残", "因学"]

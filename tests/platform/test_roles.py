"""Statistical division codes (统计用区划代码) and the prefix scope they imply (no lookup needed): shared.roles."""

from __future__ import annotations

import pytest

from shared.roles import RegionLevel, in_scope, is_region_code, level_of, scope_prefix


@pytest.mark.parametrize(
    ("code", "level", "prefix"),
    [
        ("450000000000", RegionLevel.province, "45"),
        ("451000000000", RegionLevel.prefecture, "4510"),
        ("451025000000", RegionLevel.county, "451025"),
        ("451025100000", RegionLevel.township, "451025100"),
        ("451025100201", RegionLevel.village, "451025100201"),
        (
            "469001000000",
            RegionLevel.county,
            "469001",
        ),  # Hainan: county directly under the province (90 = 省直辖)
        ("000000000000", RegionLevel.national, ""),
    ],
)
def test_level_and_prefix(code: str, level: RegionLevel, prefix: str) -> None:
    assert is_region_code(code)
    assert level_of(code) == level
    assert scope_prefix(code) == prefix


@pytest.mark.parametrize(
    "code", ["45102510020", "4510251002011", "45102510020a", "450000100000", "450010000000x", ""]
)
def test_invalid_codes(code: str) -> None:
    assert not is_region_code(code)


def test_scope_is_a_prefix() -> None:
    assert in_scope("451025000000", "451025100201")
    assert in_scope("451025100000", "451025100201")
    assert in_scope("451025100201", "451025100201")
    assert not in_scope("451025100000", "451025101201")
    assert not in_scope("451025000000", "451026000000")
    assert in_scope("000000000000", "451026000000")

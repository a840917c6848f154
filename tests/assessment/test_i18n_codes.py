"""zh-CN messages of the assessment's problem codes (issue #12, shared/locale/zh_CN/LC_MESSAGES/assessment.po):
every code services/assessment raises has a message, each message fills only details every raise passes, and the
assessment's own problem types and upstream codes are translated. Pure: the catalogues and the source only."""

from __future__ import annotations

import importlib

import pytest

from services.assessment.registry import RegistryUnavailable
from services.assessment.sources import SourceUnavailable
from shared.i18n import LOCALE_DIR, ProblemLocaliser, template_holes
from tests.platform.test_i18n import ROOT, _codes_raised


@pytest.fixture(scope="module")
def localiser() -> ProblemLocaliser:
    # The code lists that templates name ({role:role}) are filed by the registry's domain modules.
    importlib.import_module("services.registry.code_lists.service")
    return ProblemLocaliser.from_directory(LOCALE_DIR)


@pytest.fixture(scope="module")
def codes() -> dict[str, list[tuple[str, set[str]]]]:
    return _codes_raised(ROOT / "services" / "assessment")


def test_every_assessment_domain_code_has_a_zh_cn_message(
    localiser: ProblemLocaliser, codes: dict[str, list[tuple[str, set[str]]]]
) -> None:
    assert len(codes) > 50  # the scan finds the codes (a broken scan must not pass silently)
    missing = {code: at for code, at in codes.items() if code not in localiser.catalogues["zh_CN"].codes}
    assert not missing, f"codes without a zh-CN message in shared/locale/zh_CN: {missing}"


def test_messages_fill_only_details_every_raise_passes(
    localiser: ProblemLocaliser, codes: dict[str, list[tuple[str, set[str]]]]
) -> None:
    for code, raises in codes.items():
        holes = set(template_holes(localiser.catalogues["zh_CN"].codes[code]))
        for where, details in raises:
            assert holes <= details, f"{code} at {where} passes {details}, the message needs {holes}"


def test_upstream_problems_are_translated(localiser: ProblemLocaliser) -> None:
    catalogue = localiser.catalogues["zh_CN"]
    for service in ("registry", "planning"):
        assert catalogue.codes[SourceUnavailable(service, "down").extensions["code"]]
    assert catalogue.codes[RegistryUnavailable("down").extensions["code"]]
    for cls in (SourceUnavailable, RegistryUnavailable):
        assert catalogue.titles.get(cls.slug), cls.slug


def test_subjects_unavailable_says_why_in_chinese(localiser: ProblemLocaliser) -> None:
    message = localiser.catalogues["zh_CN"].codes["subjects_unavailable"]
    assert "cppcc_unit" in message and "政协" in message

"""Fixtures the registry's route tests share: the people of the demo county (tests/factories.py has the regions).

A module that needs someone else under one of these names (another sub, another region) defines its own fixture,
which takes precedence over these.
"""

from __future__ import annotations

import pytest

from shared.jwt import SigningKey
from tests.factories import COUNTY, VILLAGE, Headers, headers_for


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    """The village officer of 旧州村 (`clerk-jiuzhou`)."""
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-jiuzhou")


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    """The county office of 靖西县 (`admin-jingxi`)."""
    return headers_for(signing_key, "county_admin", COUNTY, "admin-jingxi")

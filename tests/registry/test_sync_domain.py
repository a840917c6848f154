"""The phone download's cursor and change-feed rules (services/registry/sync/domain.py), with no database."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.registry.sync.domain import (
    CURSOR_MAX_AGE_DAYS,
    FeedHead,
    SyncCursor,
    check_downloader,
    needs_full,
    next_cursor,
    retention_cutoff,
    usable,
)
from services.registry.sync.schemas import decode_cursor, encode_cursor
from shared.errors import Invalid, NotAllowed
from shared.problems import BadRequest
from shared.roles import Role

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in China
TODAY = date(2026, 11, 23)
HEAD = FeedHead(cadre_id=uuid.uuid4(), max_seq=100, min_seq=40, horizon=None)


def cursor(**overrides: int | date | None) -> SyncCursor:
    values: dict[str, int | date | None] = {
        "seq": 90,
        "horizon": None,
        "day": TODAY - timedelta(days=1),
        "issued_at": int((NOW - timedelta(days=1)).timestamp()),
    }
    values.update(overrides)
    return SyncCursor(**values)  # type: ignore[arg-type]


class TestCodec:
    def test_round_trip(self) -> None:
        original = SyncCursor(seq=42, horizon=7, day=date(2026, 11, 23), issued_at=1_800_000_000)
        text = encode_cursor(original)
        assert "=" not in text and decode_cursor(text) == original
        # The shared keyset codec (shared/pagination.py): [kind, seq, horizon, day, issued_at].
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        assert raw[0] == "sync" and raw[1] == 42
        assert decode_cursor(encode_cursor(cursor())) == cursor()

    @pytest.mark.parametrize(
        "text", ["", "not a cursor!", "W10", base64.urlsafe_b64encode(b'{"v": 1}').decode()]
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(BadRequest) as caught:
            decode_cursor(text)
        assert caught.value.detail.startswith("invalid sync cursor") and caught.value.extensions == {
            "code": "cursor_invalid"
        }


class TestCursorValues:
    @pytest.mark.parametrize(
        "overrides",
        [{"seq": -1}, {"horizon": -1}, {"issued_at": -5}, {"seq": 1 << 63}, {"day": None}],
    )
    def test_out_of_range(self, overrides: dict[str, int | None]) -> None:
        with pytest.raises(Invalid) as caught:
            cursor(**overrides)
        assert caught.value.code == "cursor_invalid"

    def test_zero_and_no_horizon_are_fine(self) -> None:
        assert cursor(seq=0, horizon=None, issued_at=0).seq == 0


class TestUsable:
    def test_a_recent_cursor_continues(self) -> None:
        assert usable(cursor(), HEAD, today=TODAY, now=NOW)
        assert not needs_full(cursor(), HEAD, today=TODAY, now=NOW)

    def test_first_download_is_full(self) -> None:
        assert needs_full(None, HEAD, today=TODAY, now=NOW)

    @pytest.mark.parametrize(
        "overrides",
        [
            {"seq": 101},  # beyond the feed: another or a restored database
            {"day": TODAY + timedelta(days=1)},
            {"issued_at": int(NOW.timestamp()) + 301},
        ],
    )
    def test_from_the_future(self, overrides: dict[str, int | date]) -> None:
        assert not usable(cursor(**overrides), HEAD, today=TODAY, now=NOW)

    def test_a_little_clock_difference_is_tolerated(self) -> None:
        assert usable(cursor(issued_at=int(NOW.timestamp()) + 299), HEAD, today=TODAY, now=NOW)

    def test_too_old(self) -> None:
        old = int((NOW - timedelta(days=CURSOR_MAX_AGE_DAYS, seconds=1)).timestamp())
        assert not usable(cursor(issued_at=old), HEAD, today=TODAY, now=NOW)
        fine = int((NOW - timedelta(days=CURSOR_MAX_AGE_DAYS - 1)).timestamp())
        assert usable(cursor(issued_at=fine), HEAD, today=TODAY, now=NOW)

    def test_pruned_feed(self) -> None:
        assert usable(cursor(seq=39), HEAD, today=TODAY, now=NOW)  # the next row (40) is still there
        assert not usable(cursor(seq=38), HEAD, today=TODAY, now=NOW)
        empty = FeedHead(cadre_id=None, max_seq=100, min_seq=None, horizon=None)
        assert usable(cursor(seq=1), empty, today=TODAY, now=NOW)


def test_next_cursor_is_the_snapshot_today_and_now() -> None:
    head = FeedHead(cadre_id=None, max_seq=512, min_seq=1, horizon=77)
    assert next_cursor(head, today=TODAY, now=NOW) == SyncCursor(
        seq=512, horizon=77, day=TODAY, issued_at=int(NOW.timestamp())
    )


def test_the_feed_keeps_what_a_cursor_may_need() -> None:
    assert retention_cutoff(NOW) == NOW - timedelta(days=CURSOR_MAX_AGE_DAYS)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.cadre])
def test_only_cadres_download(role: Role) -> None:
    check_downloader(Role.cadre)
    with pytest.raises(NotAllowed):
        check_downloader(role)

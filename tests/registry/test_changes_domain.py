"""The change feed's pure rules (issue #15): cursor codec, start and retention, ordering, dedup, tombstones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.changes import domain
from services.registry.changes.domain import (
    Change,
    CurrentRecord,
    CursorExpired,
    Op,
    Position,
    Reason,
    RecordType,
)
from services.registry.changes.schemas import decode_position, encode_position
from shared.errors import Invalid, NotAllowed
from shared.pagination import encode_cursor
from shared.roles import Role

T0 = datetime(2026, 12, 6, 9, tzinfo=UTC)


def change(txid: int, seq: int, kind: RecordType = RecordType.household, rid: str = "a") -> Change:
    return Change(Position(txid, seq), kind, rid, T0 + timedelta(seconds=seq))


class TestCursor:
    def test_round_trip_and_opaque(self) -> None:
        text = encode_position(Position(2**40 + 7, 12))
        assert decode_position(text) == Position(2**40 + 7, 12)
        assert text.isascii() and "feed" not in text

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "not-a-cursor",
            encode_cursor("sync", 1, 2),
            encode_cursor("feed", 1),
            encode_cursor("feed", "x", 1),
        ],
    )
    def test_malformed_is_invalid_cursor(self, text: str) -> None:
        with pytest.raises(Invalid) as caught:
            decode_position(text)
        assert caught.value.code == "invalid_cursor"

    def test_negative_is_invalid(self) -> None:
        with pytest.raises(Invalid):
            decode_position(encode_cursor("feed", -1, 0))

    def test_positions_order_by_txid_then_seq(self) -> None:
        # A transaction that took a low seq but has a higher txid comes after: commit order, not seq order.
        assert Position(5, 100) < Position(6, 1) < Position(6, 2)


class TestStart:
    def test_never_pruned_starts_at_the_beginning(self) -> None:
        assert domain.start_position(None, None) == Position(0, 0)
        assert domain.start_position(Position(9, 3), None) == Position(9, 3)

    def test_pruned_needs_a_cursor_above_the_horizon(self) -> None:
        assert domain.start_position(Position(11, 0), 10) == Position(11, 0)
        for cursor in (None, Position(10, 999), Position(3, 0)):
            with pytest.raises(CursorExpired) as caught:
                domain.start_position(cursor, 10)
            assert caught.value.code == "cursor_expired"
            assert caught.value.details["export"] == "/exports/households"


class TestReaders:
    def test_roles(self) -> None:
        for role in (Role.county_admin, Role.township_officer, Role.village_officer, Role.province_system):
            domain.check_reader(role)
        with pytest.raises(NotAllowed) as caught:
            domain.check_reader(Role.cadre)
        assert caught.value.code == "feed_not_allowed"

    def test_types(self) -> None:
        assert domain.parse_types(None) == frozenset(RecordType)
        assert domain.parse_types("pairing, household") == {RecordType.pairing, RecordType.household}
        for bad in ("member", ",", "household,x"):
            with pytest.raises(Invalid):
                domain.parse_types(bad)


class TestPage:
    def test_dedup_latest_wins_in_order_of_latest(self) -> None:
        rows = [change(5, 1, rid="a"), change(5, 2, rid="b"), change(7, 3, rid="a")]
        assert [(c.id, c.position) for c in domain.latest(rows)] == [
            ("b", Position(5, 2)),
            ("a", Position(7, 3)),
        ]

    def test_same_id_of_another_type_is_another_record(self) -> None:
        rows = [change(1, 1, RecordType.household, "x"), change(1, 2, RecordType.pairing, "x")]
        assert len(domain.latest(rows)) == 2

    def test_upsert_carries_the_record(self) -> None:
        record = {"id": "a", "status": "registered"}
        (item,) = domain.assemble(
            [change(1, 1)], {(RecordType.household, "a"): CurrentRecord(True, record, "registered")}
        )
        assert (item.op, item.reason, item.record) == (Op.upsert, None, record)
        assert item.at == T0 + timedelta(seconds=1)

    @pytest.mark.parametrize(
        ("current", "reason"),
        [
            (None, Reason.deleted),
            (CurrentRecord(False, None, "registered"), Reason.left_scope),
            (CurrentRecord(True, {"id": "a"}, "removed"), Reason.removed),
            (CurrentRecord(True, {"id": "a"}, "dissolved"), Reason.removed),
        ],
    )
    def test_tombstones(self, current: CurrentRecord | None, reason: Reason) -> None:
        current_map = {} if current is None else {(RecordType.household, "a"): current}
        (item,) = domain.assemble([change(1, 1)], current_map)
        assert (item.op, item.reason, item.record) == (Op.tombstone, reason, None)

    def test_removed_applies_to_households_only(self) -> None:
        current = {(RecordType.help_record, "r"): CurrentRecord(True, {"id": "r"}, "removed")}
        (item,) = domain.assemble([change(1, 1, RecordType.help_record, "r")], current)
        assert item.op is Op.upsert


class TestFields:
    def test_per_type_selection_in_the_exports_syntax(self) -> None:
        chosen = domain.parse_fields("household:id,members.name ; help_record:id,confirmations")
        assert set(chosen) == {RecordType.household, RecordType.help_record}
        assert chosen[RecordType.household].names() == ["id", "members.name"]
        assert chosen[RecordType.help_record].names()[:2] == ["id", "confirmations.party"]
        assert domain.parse_fields(None) == {}

    @pytest.mark.parametrize(
        ("text", "code"),
        [
            ("household:nope", "unknown_export_field"),
            ("household:", "unknown_export_field"),
            ("pairing:cadre", "unknown_export_field"),
            ("family:id", "unknown_feed_type"),
            ("id", "unknown_feed_type"),
            (";", "unknown_export_field"),
        ],
    )
    def test_refused(self, text: str, code: str) -> None:
        with pytest.raises(Invalid) as err:
            domain.parse_fields(text)
        assert err.value.code == code

    def test_select_projects_upserts_only(self) -> None:
        selection = domain.parse_fields("pairing:id,role")[RecordType.pairing]
        upsert = domain.FeedItem(
            RecordType.pairing, "p", Op.upsert, None, T0, '{"id":"p","role":"primary","x":1}'
        )
        assert domain.select(upsert, selection).record == {"id": "p", "role": "primary"}
        tombstone = domain.FeedItem(RecordType.pairing, "p", Op.tombstone, Reason.deleted, T0, None)
        assert domain.select(tombstone, selection) is tombstone
        assert domain.select(upsert, None) is upsert

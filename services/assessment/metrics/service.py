"""Metric catalogue use cases: the catalogue (keyset pages by code, filtered), one metric. No database: the
catalogue is data (metrics/domain.py), the same for every signed-in caller."""

from __future__ import annotations

from services.assessment.metrics import domain
from services.assessment.metrics.schemas import MetricPage, MetricPublic
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound

__all__ = ["MetricService", "public"]

_CURSOR = "metrics"


def public(found: domain.Metric) -> MetricPublic:
    return MetricPublic(
        code=found.code,
        label_zh=found.label,
        label_en=found.english,
        unit=found.unit,
        direction=found.direction,
        source=found.source,
        subject_types=sorted(found.subject_types, key=list(domain.SubjectType).index),
        description=found.description,
    )


class MetricService:
    def page(
        self,
        *,
        subject_type: domain.SubjectType | None,
        source: domain.MetricSource | None,
        cursor: str | None,
        limit: int,
    ) -> MetricPage:
        after = None
        if cursor is not None:
            (code,) = decode_cursor(cursor, _CURSOR, (str,))
            after = str(code)
        found = [
            m
            for m in domain.CATALOGUE.values()
            if (subject_type is None or subject_type in m.subject_types)
            and (source is None or m.source is source)
            and (after is None or m.code > after)
        ]
        page = found[:limit]
        more = len(found) > limit
        return MetricPage(
            items=[public(m) for m in page],
            next_cursor=encode_cursor(_CURSOR, page[-1].code) if more else None,
        )

    def get(self, code: str) -> MetricPublic:
        found = domain.metric(code)
        if found is None:
            raise NotFound(f"metric {code} not found")
        return public(found)

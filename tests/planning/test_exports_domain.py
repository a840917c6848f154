"""Planning's export and feed rules (issue #15), pure: the catalogues are the response models' fields, the
exporters are the planning readers, and the feed's types and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.planning.changes import domain as feed_domain
from services.planning.changes.domain import RecordType
from services.planning.exports import domain
from services.planning.funds.schemas import LedgerEntryPublic
from services.planning.plans.schemas import PlanEventPublic, PlanPublic, TargetPublic
from services.planning.projects.schemas import MilestonePublic, ProjectDetail, ProjectPublic
from shared.errors import Invalid, Missing, NotAllowed
from shared.exchange.export import dataset_of, parse_fields
from shared.roles import Role


class TestCatalogues:
    def test_plans_are_plan_public(self) -> None:
        lists = {"targets", "history"}
        assert domain.PLAN_FIELDS == tuple(f for f in PlanPublic.model_fields if f not in lists)
        assert domain.TARGET_FIELDS == tuple(TargetPublic.model_fields)
        assert domain.PLAN_EVENT_FIELDS == tuple(PlanEventPublic.model_fields)
        assert [n.name for n in domain.PLANS.nested] == ["targets", "history"]

    def test_projects_are_project_public_with_the_details_counts(self) -> None:
        counts = ("beneficiaries_count", "poor_beneficiaries_count")
        assert domain.PROJECT_FIELDS == (*ProjectPublic.model_fields, *counts)
        assert set(counts) <= set(ProjectDetail.model_fields)
        assert domain.MILESTONE_FIELDS == tuple(MilestonePublic.model_fields)

    def test_ledger_entries_are_ledger_entry_public(self) -> None:
        assert domain.LEDGER_ENTRY_FIELDS == tuple(LedgerEntryPublic.model_fields)
        assert domain.FUNDS_LEDGER.nested == ()

    def test_every_dataset_has_its_own_audit_action(self) -> None:
        assert len({d.audit_action for d in domain.DATASETS}) == len(domain.DATASETS)
        assert [d.name for d in domain.DATASETS] == list(domain.PlanningDataset)


class TestSelection:
    def test_nested_fields(self) -> None:
        selection = parse_fields("targets.progress,id,history", domain.PLANS)
        assert selection.top == ("id",)
        assert [(n.name, f) for n, f in selection.nested] == [
            ("targets", ("progress",)),
            ("history", domain.PLAN_EVENT_FIELDS),
        ]

    def test_unknown_field_and_dataset(self) -> None:
        with pytest.raises(Invalid) as field:
            parse_fields("id,milestones.colour", domain.PROJECTS)
        assert field.value.code == "unknown_export_field"
        with pytest.raises(Missing) as dataset:
            dataset_of("households", domain.DATASETS)
        assert dataset.value.code == "unknown_export_dataset"
        assert dataset_of("funds_ledger", domain.DATASETS) is domain.FUNDS_LEDGER


class TestWho:
    def test_the_planning_readers_export_and_follow(self) -> None:
        readers = {
            Role.county_admin,
            Role.township_officer,
            Role.village_officer,
            Role.province_system,
            Role.service,
        }
        assert domain.EXPORT_ROLES == readers == feed_domain.FEED_ROLES
        for role in readers:
            domain.check_exporter(role, domain.PLANS)
            feed_domain.check_reader(role)

    def test_cadres_are_refused(self) -> None:
        with pytest.raises(NotAllowed) as export:
            domain.check_exporter(Role.cadre, domain.PROJECTS)
        assert export.value.code == "export_not_allowed"
        with pytest.raises(NotAllowed) as feed:
            feed_domain.check_reader(Role.cadre)
        assert feed.value.code == "feed_not_allowed"


class TestFeedRules:
    def test_types(self) -> None:
        assert feed_domain.parse_types(None) == frozenset(RecordType)
        assert feed_domain.parse_types("plan, ledger_entry") == {RecordType.plan, RecordType.ledger_entry}
        with pytest.raises(Invalid) as bad:
            feed_domain.parse_types("household")
        assert bad.value.code == "unknown_feed_type"

    def test_the_exports_to_start_again_from(self) -> None:
        assert feed_domain.EXPORTS == tuple(f"/exports/{d.value}" for d in domain.PlanningDataset)

    def test_retention(self) -> None:
        now = datetime(2026, 12, 7, tzinfo=UTC)
        assert feed_domain.retention_cutoff(now) == now - timedelta(days=90)
        assert feed_domain.retention_cutoff(now, 30) == now - timedelta(days=30)

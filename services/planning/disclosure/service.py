"""Public disclosure use cases (村级公示): a village's disclosure of a year as JSON, and the same as a printable page.

`DisclosureService.disclosure` finds the village in the caller's scope (404 outside it; a cadre's villages are
those of their paired households, from the registry), asks the registry for the village's name (404 when it has
none, 503 when it does not answer), reads the disclosed projects and everything hanging off them in one statement
per table, then the beneficiaries' names from the registry, one lookup per page of 500 households (never one per
household or per project). Only the head's name, the village and the natural village of a household are taken
(invariant 49). `print_page` writes the disclosure as one self-contained HTML page, every value escaped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date

from services.planning.disclosure import domain
from services.planning.disclosure.repository import DisclosureRepository
from services.planning.disclosure.schemas import (
    DisclosedAcceptance,
    DisclosedBeneficiary,
    DisclosedDisbursement,
    DisclosedFunding,
    DisclosedMilestone,
    DisclosedProject,
    DisclosedStep,
    DisclosedVillage,
    DisclosureTotals,
    VillageDisclosure,
)
from services.planning.funds.domain import DisbursementStage, FundingSource, yuan
from services.planning.models import FundingLine, Milestone, ProjectEvent
from services.planning.projects.domain import ProjectCategory, ProjectStatus, QuantityUnit, Step
from services.planning.registry import LOOKUP_PAGE, HouseholdSummary, RegistryGateway
from services.planning.reports.domain import execution_rate, progress_percent
from shared import print_page as pp
from shared.context import Context
from shared.problems import NotFound
from shared.roles import Role

__all__ = ["DisclosureService", "print_page"]


def _step(row: ProjectEvent) -> DisclosedStep:
    data = row.data or {}
    step = Step(row.step)
    return DisclosedStep(
        step=step,
        step_label=step.label,
        on=date.fromisoformat(str(data["on"])),
        place=data.get("place"),
        attendees=data.get("attendees"),
        votes_for=data.get("votes_for"),
        votes_against=data.get("votes_against"),
        approve=data.get("approve"),
        passed=data.get("passed"),
    )


def _funding(row: FundingLine) -> DisclosedFunding:
    source = FundingSource(row.source)
    return DisclosedFunding(
        source=source,
        source_label=source.label,
        funder=row.funder,
        committed_yuan=yuan(row.committed_fen),
        received_yuan=yuan(row.received_fen),
        disbursed_yuan=yuan(row.disbursed_fen),
    )


def _milestone(row: Milestone) -> DisclosedMilestone:
    return DisclosedMilestone(name=row.name, due_on=row.due_on, percent=row.percent, done_on=row.done_on)


def _pages(ids: Sequence[uuid.UUID], size: int) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class DisclosureService:
    def __init__(self, ctx: Context, registry: RegistryGateway) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.registry = registry
        self.repo = DisclosureRepository(ctx)

    async def _households(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, HouseholdSummary]:
        """The registry's households for `ids`, one lookup per page (the registry answers at most 500 a call)."""
        found: dict[uuid.UUID, HouseholdSummary] = {}
        for page in _pages(ids, LOOKUP_PAGE):
            found.update(await self.registry.households(page, request_id=self.ctx.request_id))
        return found

    async def disclosure(self, village_code: str, year: int) -> VillageDisclosure:
        """The village's disclosure of `year` (村级项目及资金公示)."""
        domain.check_village(village_code)
        paired: set[str] | None = None
        if self.principal.role is Role.cadre:
            households = await self.registry.paired_households(
                self.principal.sub, request_id=self.ctx.request_id
            )
            paired = {h.village_code for h in households.values()}
        domain.require_in_scope(
            self.principal.role, self.principal.region, village_code, paired_villages=paired
        )
        village = await self.registry.region(village_code, request_id=self.ctx.request_id)
        if village is None or village.level != "village":
            raise NotFound(f"village {village_code} not found")
        projects = await self.repo.projects(village_code, year, paired_villages=paired)
        ids = [p.id for p in projects]
        lines: list[FundingLine] = []
        events: list[ProjectEvent] = []
        milestones: list[Milestone] = []
        if ids:
            lines = await self.repo.lines(ids)
            events = await self.repo.events(ids)
            milestones = await self.repo.milestones(ids)
            acceptances = {a.project_id: a for a in await self.repo.acceptances(ids)}
            ledger = await self.repo.disbursements(ids)
            beneficiaries = await self.repo.beneficiaries(ids)
        else:
            acceptances, ledger, beneficiaries = {}, [], []
        households = await self._households(list(dict.fromkeys(h for _, h in beneficiaries)))
        public = domain.public_households(beneficiaries, households)
        names = {p.id: p.name for p in projects}
        counted: dict[uuid.UUID, int] = {}
        for project_id, _ in beneficiaries:
            counted[project_id] = counted.get(project_id, 0) + 1

        out: list[DisclosedProject] = []
        for project in projects:
            own_lines = [r for r in lines if r.project_id == project.id]
            own_milestones = [r for r in milestones if r.project_id == project.id]
            acceptance = acceptances.get(project.id)
            category = ProjectCategory(project.category)
            status = ProjectStatus(project.status)
            unit = QuantityUnit(project.unit) if project.unit else None
            out.append(
                DisclosedProject(
                    id=project.id,
                    name=project.name,
                    category=category,
                    category_label=category.label,
                    natural_village=project.natural_village,
                    quantity=project.quantity,
                    unit=unit,
                    unit_label=unit.label if unit else None,
                    starts_on=project.starts_on,
                    finishes_on=project.finishes_on,
                    implementing_party=project.implementing_party,
                    status=status,
                    status_label=status.label,
                    budget_yuan=yuan(project.budget_fen),
                    committed_yuan=yuan(sum(r.committed_fen for r in own_lines)),
                    received_yuan=yuan(sum(r.received_fen for r in own_lines)),
                    disbursed_yuan=yuan(sum(r.disbursed_fen for r in own_lines)),
                    funding=[_funding(r) for r in own_lines],
                    approval_steps=[_step(e) for e in events if e.project_id == project.id],
                    milestones=[_milestone(m) for m in own_milestones],
                    progress_percent=progress_percent(m.percent for m in own_milestones),
                    acceptance=DisclosedAcceptance(
                        accepted_on=acceptance.accepted_on,
                        passed=acceptance.passed,
                        findings=acceptance.findings,
                        accepted_by=acceptance.accepted_by,
                    )
                    if acceptance is not None
                    else None,
                    beneficiary_households=counted.get(project.id, 0),
                )
            )
        committed = sum(r.committed_fen for r in lines)
        disbursed = sum(r.disbursed_fen for r in lines)
        posted_on = self.ctx.today
        return VillageDisclosure(
            village=DisclosedVillage(code=village_code, name=village.name),
            year=year,
            posted_on=posted_on,
            notice_ends_on=domain.notice_ends_on(posted_on),
            projects=out,
            disbursements=[
                DisclosedDisbursement(
                    entry_id=e.id or 0,
                    project_id=e.project_id,
                    project_name=names[e.project_id],
                    entry_date=e.entry_date,
                    stage=DisbursementStage(e.stage) if e.stage else None,
                    stage_label=DisbursementStage(e.stage).label if e.stage else None,
                    amount_yuan=yuan(e.amount_fen),
                    payee=e.payee,
                    voucher=e.voucher,
                    reverses=e.reverses,
                )
                for e in ledger
            ],
            beneficiaries=[
                DisclosedBeneficiary(
                    head_name=h.head_name,
                    village_code=h.village_code,
                    natural_village=h.natural_village,
                    project_ids=list(h.project_ids),
                )
                for h in public
            ],
            totals=DisclosureTotals(
                projects=len(projects),
                budget_yuan=yuan(sum(p.budget_fen for p in projects)),
                committed_yuan=yuan(committed),
                received_yuan=yuan(sum(r.received_fen for r in lines)),
                disbursed_yuan=yuan(disbursed),
                disbursement_rate=execution_rate(disbursed, committed),
                beneficiary_households=len(public),
            ),
        )


# == the printable page ==============================================================================================
def _step_detail(step: DisclosedStep) -> str:
    parts = []
    if step.place:
        parts.append(f"公开地点：{step.place}")  # noqa: RUF001
    if step.attendees is not None:
        parts.append(f"到会 {step.attendees} 人")
    if step.votes_for is not None:
        parts.append(f"赞成 {step.votes_for} 票，反对 {step.votes_against or 0} 票")  # noqa: RUF001
    if step.approve is not None:
        parts.append("同意" if step.approve else "退回")
    if step.passed is not None:
        parts.append("验收合格" if step.passed else "验收不合格")
    return "；".join(parts)  # noqa: RUF001


def print_page(d: VillageDisclosure) -> str:
    """The disclosure as one self-contained HTML page for the village board (A4, print styles), every value
    escaped."""
    village = d.village.name
    names = {p.id: p.name for p in d.projects}
    title = f"{village}{d.year}年度村级项目及资金公示"
    projects = pp.table(
        [
            "序号",
            "项目名称",
            "项目类别",
            "建设地点",
            "建设规模",
            "实施单位",
            "计划工期",
            "总投资(元)",
            "状态",
            "进度(%)",
        ],
        [
            [
                pp.num(i),
                pp.text(p.name),
                pp.text(p.category_label),
                pp.text(p.natural_village or ""),
                pp.text(f"{p.quantity} {p.unit_label or ''}".strip() if p.quantity is not None else ""),
                pp.text(p.implementing_party or ""),
                pp.text(
                    f"{pp.chinese_date(p.starts_on)}至{pp.chinese_date(p.finishes_on)}" if p.starts_on else ""
                ),
                pp.num(pp.money(p.budget_yuan)),
                pp.text(p.status_label),
                pp.num("" if p.progress_percent is None else f"{p.progress_percent:.2f}"),
            ]
            for i, p in enumerate(d.projects, start=1)
        ],
        empty="本年度无公示项目",
    )
    funding = pp.table(
        ["项目名称", "资金来源", "出资单位", "承诺资金(元)", "到位资金(元)", "已拨付(元)"],
        [
            [
                pp.text(p.name),
                pp.text(f.source_label),
                pp.text(f.funder),
                pp.num(pp.money(f.committed_yuan)),
                pp.num(pp.money(f.received_yuan)),
                pp.num(pp.money(f.disbursed_yuan)),
            ]
            for p in d.projects
            for f in p.funding
        ],
        empty="无资金来源记录",
    )
    steps = pp.table(
        ["项目名称", "程序", "日期", "情况"],
        [
            [pp.text(p.name), pp.text(s.step_label), pp.text(pp.chinese_date(s.on)), pp.text(_step_detail(s))]
            for p in d.projects
            for s in p.approval_steps
        ],
        empty="无审批记录",
    )
    milestones = pp.table(
        ["项目名称", "节点", "计划完成", "进度(%)", "完成日期"],
        [
            [
                pp.text(p.name),
                pp.text(m.name),
                pp.text(pp.chinese_date(m.due_on)),
                pp.num(m.percent),
                pp.text(pp.chinese_date(m.done_on)),
            ]
            for p in d.projects
            for m in p.milestones
        ],
        empty="无进度节点",
    )
    acceptance = pp.table(
        ["项目名称", "验收日期", "验收结论", "验收意见", "验收单位"],
        [
            [
                pp.text(p.name),
                pp.text(pp.chinese_date(p.acceptance.accepted_on)),
                pp.text("合格" if p.acceptance.passed else "不合格"),
                pp.text(p.acceptance.findings),
                pp.text(p.acceptance.accepted_by),
            ]
            for p in d.projects
            if p.acceptance is not None
        ],
        empty="暂无验收",
    )
    disbursements = pp.table(
        ["拨付日期", "项目名称", "拨付阶段", "金额(元)", "收款单位", "凭证号"],
        [
            [
                pp.text(pp.chinese_date(x.entry_date)),
                pp.text(x.project_name),
                pp.text((x.stage_label or "") + ("（冲销）" if x.reverses is not None else "")),  # noqa: RUF001
                pp.num(pp.money(x.amount_yuan)),
                pp.text(x.payee or ""),
                pp.text(x.voucher or ""),
            ]
            for x in d.disbursements
        ],
        empty="暂无资金拨付",
    )
    beneficiaries = pp.table(
        ["序号", "户主姓名", "行政村", "自然村（屯）", "受益项目"],  # noqa: RUF001
        [
            [
                pp.num(i),
                pp.text(b.head_name),
                pp.text(village if b.village_code == d.village.code else b.village_code),
                pp.text(b.natural_village or ""),
                pp.text("、".join(names.get(pid, "") for pid in b.project_ids)),
            ]
            for i, b in enumerate(d.beneficiaries, start=1)
        ],
        empty="无受益农户",
    )
    t = d.totals
    totals = pp.table(
        ["项目数", "总投资(元)", "承诺资金(元)", "到位资金(元)", "已拨付(元)", "拨付率(%)", "受益农户(户)"],
        [
            [
                pp.num(t.projects),
                pp.num(pp.money(t.budget_yuan)),
                pp.num(pp.money(t.committed_yuan)),
                pp.num(pp.money(t.received_yuan)),
                pp.num(pp.money(t.disbursed_yuan)),
                pp.num("" if t.disbursement_rate is None else f"{t.disbursement_rate:.2f}"),
                pp.num(t.beneficiary_households),
            ]
        ],
        empty="",
    )
    sections = (
        ("一、项目情况", projects),
        ("二、资金来源及到位、拨付情况", funding),
        ("三、项目审批程序（四议两公开）", steps),  # noqa: RUF001
        ("四、实施进度", milestones),
        ("五、竣工验收", acceptance),
        ("六、资金拨付明细", disbursements),
        ("七、受益农户", beneficiaries),
        ("八、合计", totals),
    )
    meta = (
        f"{pp.e(d.year)}年度 · 行政村代码 {pp.e(d.village.code)} · 公示日期：{pp.e(pp.chinese_date(d.posted_on))}"  # noqa: RUF001
        f" · 公示期：{pp.e(pp.chinese_date(d.posted_on))}至{pp.e(pp.chinese_date(d.notice_ends_on))}"  # noqa: RUF001
    )
    return pp.page(
        title=title,
        heading=f"{village}村级项目及资金公示",
        meta=meta,
        sections=sections,
        notice="公示期内，如对上述项目、资金或受益农户有异议，请向村民委员会或乡镇人民政府反映。",  # noqa: RUF001
        signer=f"{village}村民委员会",
    )

"""Money rules (资金, DOMAIN.md §5.6, §5.7, §5.9, §5.10; invariants 8, 36, 37, 38): pure, integer fen throughout.

Pure: the standard library, `shared.roles`, `shared.errors`, `shared.labels` and the process's other domain
modules. Time is passed in (`today`). Every amount here is integer fen (分); yuan appear only at the edges
(`fen`, `yuan`).

| rule | DOMAIN.md | here |
|---|---|---|
| funding sources are the fourteen of §5.6 (the codes of migration plan0003's earmark matrix) | §5.6 | `FundingSource` |
| money is >= 0 with at most two decimals (a fraction of a fen is refused) | invariant 8 | `fen` (`fraction_of_fen`), `require_positive` |
| a county's yearly allocation per source has a document number (文号) and an amount; approved budgets drawing on it never exceed it | §5.6, §5.9 (纳入财政预算); issue #11 Money | `check_draw` (`allocation_exceeded`), the CHECK `drawn_fen <= amount_fen` |
| a funding line names a source, a funder and a commitment; an allocation it draws on is of the project's county, source and starting year | §5.7 [D] `project_funding[]`; §5.9 渠道不变 | `check_allocation_link` |
| Σ commitments = budget, or the project shows its funding gap; never more than the budget | invariant 36; §5.7 (F5's road) | `funding_totals`, `check_commitments` (`over_budget`) |
| the split is edited while the project is not approved; afterwards only a county re-approval moves money between lines | invariant 37 (渠道不乱); §5.9 | `check_lines_editable` (`project_approved`), `transfer` |
| a line's source may pay the project's category (专款专用: the shipped matrix, the county's overrides) | invariant 37; §5.9 | `EarmarkCell`, `effective_matrix`, `check_earmark` (`not_earmarked`) |
| per line, always 0 <= disbursed <= received <= committed (also a database CHECK, under concurrency) | invariant 38; §5.10 | `receipt` (`receipt_exceeds_commitment`), `disbursement` (`disbursement_exceeds_receipts`), `transfer` (`below_received`) |
| the completion payment (and the retention released after it) needs the project's passed acceptance | invariant 38; §5.8 Acceptance; §5.10 | `disbursement` (`acceptance_required`) |
| the ledger is append-only: a correction is a reversal, a negative entry referencing the original, at most once | §5.9 专账; §5.10; invariant 50 | `reversal` (`already_reversed`, `reversal_of_reversal`, `reversal_below_disbursed`) |
| money moves only on an approved project, dated no later than today | §5.8; invariant 12 | `receipt`, `disbursement` (`project_not_approved`, `date_in_future`) |
| county admins allocate, record money, transfer and set the matrix; the project's officers edit its lines | §1.3; issue #11 Access | `MONEY_KEEPERS`, `LINE_EDITORS`, `MONEY_READERS`, `require_role` |
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from services.planning.projects.domain import CLOSED, IMPLEMENTING
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import RegionLevel, Role, level_of

__all__ = [
    "ALLOCATION_READERS",
    "APPROVED_STATUSES",
    "LINE_EDITORS",
    "MAX_LINES_PER_PROJECT",
    "MONEY_KEEPERS",
    "MONEY_READERS",
    "STAGES_NEEDING_ACCEPTANCE",
    "AllocationExceeded",
    "AllocationFacts",
    "DisbursementStage",
    "EarmarkCell",
    "EarmarkOrigin",
    "FundingSource",
    "FundingTotals",
    "LedgerEntryFacts",
    "LedgerKind",
    "LineFacts",
    "LineState",
    "ProjectFacts",
    "Transfer",
    "check_allocation_link",
    "check_commitments",
    "check_county",
    "check_draw",
    "check_earmark",
    "check_lines_editable",
    "county_of",
    "disbursement",
    "effective_matrix",
    "fen",
    "funding_totals",
    "reads_county",
    "receipt",
    "release",
    "require_positive",
    "require_role",
    "reversal",
    "transfer",
    "yuan",
    "yuan_text",
]


# -- code lists -------------------------------------------------------------------------------------------------
@code_list("planning_funding_source", "资金来源", "Funding source")
class FundingSource(LabelledEnum):
    """Funding sources (DOMAIN.md §5.6, `funding_source_type`); the codes of migration plan0003's matrix."""

    fiscal_special_poverty_fund = (
        "fiscal_special_poverty_fund",
        "财政专项扶贫资金",
        "Fiscal special poverty fund",
    )
    sector_department_fund = "sector_department_fund", "行业部门资金", "Sector department fund"
    integrated_fund = "integrated_fund", "整合资金", "Integrated funds"
    helping_unit_fund = "helping_unit_fund", "帮扶单位资金", "Helping unit's funds"
    social_donation = "social_donation", "社会捐资", "Social donations"
    cadre_donation = "cadre_donation", "干部职工捐款", "Cadres' donations"
    beneficiary_self_raised = "beneficiary_self_raised", "群众自筹", "Self-raised by beneficiaries"
    credit = "credit", "信贷资金", "Credit"
    interest_subsidy = "interest_subsidy", "财政贴息", "Interest subsidy"
    enterprise_self_funded = "enterprise_self_funded", "企业自筹", "Enterprise's own funds"
    collective = "collective", "村集体", "Village collective"
    mutual_aid_fund = "mutual_aid_fund", "互助会资金", "Mutual aid fund"
    programme_fund = "programme_fund", "项目资金", "Named programme fund"
    risk_fund = "risk_fund", "项目风险金", "Project risk fund"


@code_list("planning_disbursement_stage", "拨付阶段", "Disbursement stage")
class DisbursementStage(LabelledEnum):
    """The stage a disbursement pays (DOMAIN.md §5.10)."""

    advance = "advance", "预付款", "Advance payment"
    progress = "progress", "进度款", "Progress payment"
    completion = "completion", "竣工结算款", "Completion payment"
    retention = "retention", "质保金", "Retention released"


@code_list("planning_ledger_kind", "资金台账类型", "Ledger entry kind")
class LedgerKind(LabelledEnum):
    """What a ledger entry records (DOMAIN.md §5.10): money arriving on a line, or paid out of it."""

    receipt = "receipt", "资金到位", "Receipt"
    disbursement = "disbursement", "资金拨付", "Disbursement"


@code_list("planning_earmark_origin", "专款专用规则来源", "Earmark rule origin")
class EarmarkOrigin(LabelledEnum):
    """Where a cell of the earmark matrix comes from."""

    default = "default", "默认规则", "Shipped default"
    county = "county", "本县规定", "The county's override"


#: The completion payment and the retention released after it need the project's passed acceptance (验收).
STAGES_NEEDING_ACCEPTANCE: frozenset[DisbursementStage] = frozenset(
    {DisbursementStage.completion, DisbursementStage.retention}
)

#: County admins (县扶贫办) allocate, record receipts and disbursements, transfer between lines, set the matrix.
MONEY_KEEPERS: frozenset[Role] = frozenset({Role.county_admin})
#: Who edits a project's funding lines while it is not approved: its village, township and county officers.
LINE_EDITORS: frozenset[Role] = frozenset({Role.village_officer, Role.township_officer, Role.county_admin})
#: Who reads allocations, lines and the ledger (in their scope). Cadres see money through the project and the
#: public disclosure, not the books.
MONEY_READERS: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.village_officer, Role.province_system, Role.service}
)
#: Who reads a county's allocations (资金下达), read-only: the money readers, in the whole county — its townships'
#: and villages' officers too (`reads_county`), not only the county's own staff: the money that reaches them is
#: public under 两公开 (DOMAIN.md §5.8). Cadres still read no books; writes stay `MONEY_KEEPERS`'.
ALLOCATION_READERS: frozenset[Role] = MONEY_READERS

#: Project statuses at and after county approval (projects/domain.py's chain: implementing, then the acceptance
#: decided): the split is frozen, money flows.
APPROVED_STATUSES: frozenset[str] = frozenset(str(status) for status in IMPLEMENTING | CLOSED)

#: A project is split into at most this many funding lines.
MAX_LINES_PER_PROJECT = 20


# -- money -----------------------------------------------------------------------------------------------------
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")


def fen(amount_yuan: Decimal) -> int:
    """Yuan as integer fen, exactly; a fraction of a fen is refused (invariant 8)."""
    try:
        scaled = amount_yuan * _HUNDRED
        if scaled != scaled.to_integral_value():
            raise Invalid(
                "fraction_of_fen", f"{amount_yuan} yuan is not a whole number of fen", amount=str(amount_yuan)
            )
        return int(scaled)
    except InvalidOperation as exc:  # pragma: no cover - the schemas give finite decimals
        raise Invalid("not_an_amount", f"{amount_yuan} is not an amount") from exc


def yuan(amount_fen: int) -> Decimal:
    """Integer fen as yuan with two places (exact: a Decimal, never a float)."""
    return (Decimal(amount_fen) / _HUNDRED).quantize(_CENT)


def yuan_text(amount_fen: int) -> str:
    """Integer fen as the wire's yuan text (`"1750000.00"`), for problem details."""
    return f"{yuan(amount_fen):.2f}"


def require_positive(amount_fen: int, what: str = "amount") -> None:
    """Money that moves is more than zero."""
    if amount_fen <= 0:
        raise Invalid("amount_not_positive", f"the {what} must be more than 0.00 yuan", field=what)


# -- who -----------------------------------------------------------------------------------------------------
class RoleMayNot(NotAllowed):
    def __init__(self, role: Role, what: str) -> None:
        super().__init__("role_may_not", f"role '{role}' may not {what}", role=str(role))


def require_role(role: Role, allowed: frozenset[Role], what: str) -> None:
    """403 for a role that may not take this decision (the region is checked after: out of scope is 404)."""
    if role not in allowed:
        raise RoleMayNot(role, what)


def reads_county(caller_region: str, county_code: str) -> bool:
    """Whether a caller bound to `caller_region` reads the county's allocations: the county and every region
    under it (its townships and villages), or a region above it (`covers`, checked beside this)."""
    return county_of(caller_region) == county_code


def check_county(code: str) -> None:
    """Allocations and earmark overrides belong to a county (a code ending in six zeros below a prefecture)."""
    if level_of(code) is not RegionLevel.county:
        raise Invalid("not_a_county", f"{code} is not a county's code", region_code=code)


def county_of(village_code: str) -> str:
    """The county a village (or township) lies in: its first six digits."""
    return village_code[:6] + "000000"


# -- facts --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What the money rules need of a project."""

    id: uuid.UUID
    village_code: str
    category: str
    budget_fen: int
    status: str
    starts_on: date | None

    @property
    def approved(self) -> bool:
        return self.status in APPROVED_STATUSES

    @property
    def county_code(self) -> str:
        return county_of(self.village_code)


@dataclass(frozen=True, slots=True)
class AllocationFacts:
    id: uuid.UUID
    county_code: str
    year: int
    source: str
    document_number: str
    amount_fen: int
    drawn_fen: int

    @property
    def remaining_fen(self) -> int:
        return self.amount_fen - self.drawn_fen


@dataclass(frozen=True, slots=True)
class LineFacts:
    id: uuid.UUID
    project_id: uuid.UUID
    source: str
    allocation_id: uuid.UUID | None
    committed_fen: int
    received_fen: int
    disbursed_fen: int
    drawn: bool


@dataclass(frozen=True, slots=True)
class LedgerEntryFacts:
    id: int
    line_id: uuid.UUID
    kind: LedgerKind
    amount_fen: int
    reverses: int | None
    entry_date: date


# -- allocations (§5.6) ----------------------------------------------------------------------------------------
class AllocationExceeded(Refused):
    """Drawing a line's commitment would overspend its allocation."""

    def __init__(
        self, allocation: AllocationFacts, commitment_fen: int, line_id: uuid.UUID | None = None
    ) -> None:
        super().__init__(
            "allocation_exceeded",
            f"allocation {allocation.document_number} has {yuan_text(allocation.remaining_fen)} yuan left"
            f" ({yuan_text(allocation.drawn_fen)} of {yuan_text(allocation.amount_fen)} drawn);"
            f" the line commits {yuan_text(commitment_fen)}",
            allocation_id=str(allocation.id),
            document_number=allocation.document_number,
            amount_yuan=yuan_text(allocation.amount_fen),
            drawn_yuan=yuan_text(allocation.drawn_fen),
            remaining_yuan=yuan_text(allocation.remaining_fen),
            commitment_yuan=yuan_text(commitment_fen),
            **({"line_id": str(line_id)} if line_id is not None else {}),
        )


def check_draw(allocation: AllocationFacts, commitment_fen: int, line_id: uuid.UUID | None = None) -> None:
    """The allocation can take `commitment_fen` more (the database CHECK holds it under concurrency)."""
    if allocation.drawn_fen + commitment_fen > allocation.amount_fen:
        raise AllocationExceeded(allocation, commitment_fen, line_id)


def release(line: LineFacts) -> None:
    """A drawn commitment may go back to its allocation only while no money arrived on the line."""
    if line.received_fen > 0:
        raise Refused(
            "money_on_line",
            f"line {line.id} already received {yuan_text(line.received_fen)} yuan: reverse the receipts first",
            line_id=str(line.id),
            received_yuan=yuan_text(line.received_fen),
        )


# -- funding lines (§5.7, invariant 36) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FundingTotals:
    """A project's money at a glance (invariant 36: the gap is shown, never hidden)."""

    budget_fen: int
    committed_fen: int
    received_fen: int
    disbursed_fen: int
    lines: int

    @property
    def funding_gap_fen(self) -> int:
        """What the commitments still lack of the budget (0 when they cover it)."""
        return max(0, self.budget_fen - self.committed_fen)

    @property
    def over_commitment_fen(self) -> int:
        """What the commitments exceed the budget by (0 unless the budget was lowered after the split)."""
        return max(0, self.committed_fen - self.budget_fen)

    @property
    def flags(self) -> list[str]:
        out = []
        if self.funding_gap_fen:
            out.append("funding_gap")
        if self.over_commitment_fen:
            out.append("over_committed")
        return out

    @property
    def disbursement_rate(self) -> Decimal:
        """Disbursed as a percentage of the committed money (two places; 0 with nothing committed)."""
        if self.committed_fen <= 0:
            return Decimal("0.00")
        return (Decimal(self.disbursed_fen) * 100 / Decimal(self.committed_fen)).quantize(_CENT)


def funding_totals(budget_fen: int, lines: Iterable[LineFacts]) -> FundingTotals:
    items = list(lines)
    return FundingTotals(
        budget_fen=budget_fen,
        committed_fen=sum(line.committed_fen for line in items),
        received_fen=sum(line.received_fen for line in items),
        disbursed_fen=sum(line.disbursed_fen for line in items),
        lines=len(items),
    )


def check_lines_editable(project: ProjectFacts) -> None:
    """The split is the draft's: once the county approved the project only a line transfer moves money."""
    if project.approved:
        raise Refused(
            "project_approved",
            f"project {project.id} is {project.status}: its funding lines change only by a line transfer"
            " with the county's re-approval",
            status=project.status,
        )


def check_commitments(
    project: ProjectFacts, others_fen: int, committed_fen: int, *, line_count: int = 0
) -> None:
    """Σ commitments never exceed the budget (invariant 36); less is allowed and shown as the funding gap."""
    if line_count > MAX_LINES_PER_PROJECT:
        raise Refused(
            "too_many_lines",
            f"a project has at most {MAX_LINES_PER_PROJECT} funding lines",
            limit=MAX_LINES_PER_PROJECT,
        )
    total = others_fen + committed_fen
    if total > project.budget_fen:
        raise Refused(
            "over_budget",
            f"the lines would commit {yuan_text(total)} yuan, more than the budget of"
            f" {yuan_text(project.budget_fen)}",
            budget_yuan=yuan_text(project.budget_fen),
            committed_yuan=yuan_text(total),
        )


def check_allocation_link(project: ProjectFacts, source: str, allocation: AllocationFacts) -> None:
    """A line draws only on an allocation of its project's county, of its own source and the project's year."""
    if allocation.county_code != project.county_code:
        raise Refused(
            "allocation_other_county",
            f"allocation {allocation.document_number} belongs to county {allocation.county_code}",
            allocation_id=str(allocation.id),
        )
    if allocation.source != source:
        raise Refused(
            "allocation_source_mismatch",
            f"allocation {allocation.document_number} is {allocation.source} money, the line is {source}",
            allocation_id=str(allocation.id),
            allocation_source=allocation.source,
        )
    if project.starts_on is None:
        raise Refused(
            "project_unscheduled",
            "the project has no start date, so no year's allocation can be chosen for it yet",
        )
    if allocation.year != project.starts_on.year:
        raise Refused(
            "allocation_year_mismatch",
            f"allocation {allocation.document_number} is for {allocation.year}; the project starts in"
            f" {project.starts_on.year}",
            allocation_id=str(allocation.id),
            allocation_year=allocation.year,
            project_year=project.starts_on.year,
        )


# -- earmarking (专款专用, invariant 37) --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EarmarkCell:
    source: str
    category: str
    allowed: bool
    origin: EarmarkOrigin


def effective_matrix(
    defaults: Mapping[tuple[str, str], bool], overrides: Mapping[tuple[str, str], bool]
) -> list[EarmarkCell]:
    """The shipped matrix with the county's overrides on top, in source then category order of the defaults."""
    cells = []
    for key, allowed in defaults.items():
        if key in overrides:
            cells.append(EarmarkCell(key[0], key[1], overrides[key], EarmarkOrigin.county))
        else:
            cells.append(EarmarkCell(key[0], key[1], allowed, EarmarkOrigin.default))
    return cells


def check_earmark(source: str, category: str, allowed: bool | None) -> None:
    """A line's source may pay the project's category (an unknown pair is not allowed)."""
    if not allowed:
        raise Refused(
            "not_earmarked",
            f"{source} money may not pay a {category} project (专款专用)",
            source=source,
            category=category,
        )


# -- the ledger (§5.10, invariant 38) -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LineState:
    """A line's counters after an entry."""

    committed_fen: int
    received_fen: int
    disbursed_fen: int


def _money_may_flow(project: ProjectFacts, entry_date: date, today: date) -> None:
    if not project.approved:
        raise Refused(
            "project_not_approved",
            f"project {project.id} is {project.status}: money moves only after the county's approval",
            status=project.status,
        )
    if entry_date > today:
        raise Invalid(
            "date_in_future", f"the entry date {entry_date} is after today ({today})", field="entry_date"
        )


class ReceiptExceedsCommitment(Refused):
    def __init__(self, line: LineFacts, amount_fen: int) -> None:
        super().__init__(
            "receipt_exceeds_commitment",
            f"receiving {yuan_text(amount_fen)} yuan would bring line {line.id} to"
            f" {yuan_text(line.received_fen + amount_fen)}, above its commitment of {yuan_text(line.committed_fen)}",
            line_id=str(line.id),
            committed_yuan=yuan_text(line.committed_fen),
            received_yuan=yuan_text(line.received_fen),
            amount_yuan=yuan_text(amount_fen),
        )


class DisbursementExceedsReceipts(Refused):
    def __init__(self, line: LineFacts, amount_fen: int) -> None:
        super().__init__(
            "disbursement_exceeds_receipts",
            f"paying {yuan_text(amount_fen)} yuan would bring line {line.id} to"
            f" {yuan_text(line.disbursed_fen + amount_fen)} paid, above the {yuan_text(line.received_fen)} received",
            line_id=str(line.id),
            received_yuan=yuan_text(line.received_fen),
            disbursed_yuan=yuan_text(line.disbursed_fen),
            amount_yuan=yuan_text(amount_fen),
        )


def receipt(
    project: ProjectFacts, line: LineFacts, amount_fen: int, entry_date: date, today: date
) -> LineState:
    """Money arriving on a line: received + amount <= committed (invariant 38)."""
    require_positive(amount_fen)
    _money_may_flow(project, entry_date, today)
    if line.received_fen + amount_fen > line.committed_fen:
        raise ReceiptExceedsCommitment(line, amount_fen)
    return LineState(line.committed_fen, line.received_fen + amount_fen, line.disbursed_fen)


def disbursement(
    project: ProjectFacts,
    line: LineFacts,
    amount_fen: int,
    stage: DisbursementStage,
    entry_date: date,
    today: date,
    *,
    earmarked: bool | None,
    acceptance_passed: bool | None,
) -> LineState:
    """A payment out of a line: earmarked for the category (invariant 37), disbursed + amount <= received
    (invariant 38), and the completion payment only after a passed acceptance."""
    require_positive(amount_fen)
    _money_may_flow(project, entry_date, today)
    check_earmark(line.source, project.category, earmarked)
    if stage in STAGES_NEEDING_ACCEPTANCE and not acceptance_passed:
        raise Refused(
            "acceptance_required",
            f"the {stage} payment needs the project's completion acceptance (验收)"
            + (" — the acceptance recorded did not pass" if acceptance_passed is False else ""),
            stage=str(stage),
        )
    if line.disbursed_fen + amount_fen > line.received_fen:
        raise DisbursementExceedsReceipts(line, amount_fen)
    return LineState(line.committed_fen, line.received_fen, line.disbursed_fen + amount_fen)


def reversal(
    entry: LedgerEntryFacts, line: LineFacts, entry_date: date, today: date, *, already_reversed: bool
) -> int:
    """The amount (negative) of the entry that reverses `entry`: once, never a reversal of a reversal, dated
    between the original and today, and a reversed receipt never leaves the line with more paid out than
    received."""
    if entry_date > today:
        raise Invalid(
            "date_in_future", f"the entry date {entry_date} is after today ({today})", field="entry_date"
        )
    if entry_date < entry.entry_date:
        raise Invalid(
            "reversal_before_entry",
            f"a reversal dated {entry_date} cannot precede the entry it reverses ({entry.entry_date})",
            field="entry_date",
        )
    if entry.reverses is not None or entry.amount_fen < 0:
        raise Refused("reversal_of_reversal", f"entry {entry.id} is itself a reversal", entry_id=entry.id)
    if already_reversed:
        raise Refused("already_reversed", f"entry {entry.id} was already reversed", entry_id=entry.id)
    if entry.kind is LedgerKind.receipt and line.received_fen - entry.amount_fen < line.disbursed_fen:
        raise Refused(
            "reversal_below_disbursed",
            f"reversing this receipt would leave {yuan_text(line.received_fen - entry.amount_fen)} yuan received"
            f" on line {line.id}, less than the {yuan_text(line.disbursed_fen)} already paid out",
            entry_id=entry.id,
            received_yuan=yuan_text(line.received_fen),
            disbursed_yuan=yuan_text(line.disbursed_fen),
        )
    return -entry.amount_fen


# -- line transfers (渠道不乱, invariant 37) -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Transfer:
    """A re-approved move of commitment between two lines of one project."""

    from_committed_fen: int
    to_committed_fen: int


def transfer(
    project: ProjectFacts,
    source_line: LineFacts,
    target_line: LineFacts,
    amount_fen: int,
    *,
    target_earmarked: bool | None,
) -> Transfer:
    """Move `amount_fen` of commitment from one line to another of the same project (Σ unchanged); never below
    what the giving line already received; the receiving line's source must be allowed to pay the category."""
    require_positive(amount_fen)
    if source_line.id == target_line.id:
        raise Invalid("same_line", "a transfer moves money between two different lines", field="to_line_id")
    for line in (source_line, target_line):
        if line.project_id != project.id:
            raise Invalid(
                "line_of_other_project",
                f"line {line.id} is not a line of project {project.id}",
                line_id=str(line.id),
            )
    check_earmark(target_line.source, project.category, target_earmarked)
    left = source_line.committed_fen - amount_fen
    if left < source_line.received_fen:
        raise Refused(
            "below_received",
            f"line {source_line.id} already received {yuan_text(source_line.received_fen)} yuan; moving"
            f" {yuan_text(amount_fen)} would leave it committing {yuan_text(max(left, 0))}",
            line_id=str(source_line.id),
            committed_yuan=yuan_text(source_line.committed_fen),
            received_yuan=yuan_text(source_line.received_fen),
            amount_yuan=yuan_text(amount_fen),
        )
    return Transfer(left, target_line.committed_fen + amount_fen)

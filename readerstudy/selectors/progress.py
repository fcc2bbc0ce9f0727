"""TODO docstring."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Q

from readerstudy.models import Arm, Membership, Reading, Role, ScheduleItem, Study


@dataclass(frozen=True)
class ReaderProgress:
    pseudonym: str
    reader_index: int | None
    completed: int
    total: int
    last_activity: datetime | None
    median_s: float | None  # median seconds per measured case, shown to submitted
    consented: bool
    finished_at: datetime | None

    @property
    def percent(self) -> int:
        return round(100 * self.completed / self.total) if self.total else 0


@dataclass(frozen=True)
class CaseProgress:
    case: str
    by_arm: dict[str, tuple[int, int]]  # arm name -> (read, scheduled)
    cells: tuple[tuple[int, int] | None, ...] = ()  # (read, scheduled) per arm, in the study's arm order

    @property
    def read(self) -> int:
        return sum(done for done, _ in self.by_arm.values())

    @property
    def scheduled(self) -> int:
        return sum(total for _, total in self.by_arm.values())


@dataclass(frozen=True)
class StudyProgress:
    readers: list[ReaderProgress]
    cases: list[CaseProgress]
    arms: list[Arm]
    totals: dict[str, int] = field(default_factory=dict)

    def least_read(self, n: int) -> list[CaseProgress]:
        """The `n` cases with the smallest share of their scheduled readings done (then by key)."""
        return sorted(self.cases, key=lambda c: (c.read / c.scheduled if c.scheduled else 1.0, c.read, c.case))[:n]


def readers_progress(study: Study) -> list[ReaderProgress]:
    """Each reader's completed/total readings, last activity and median time per case (2 queries)."""
    members = (
        Membership.objects.filter(study=study, role=Role.READER)
        .annotate(
            total=Count("schedule_items"),
            completed=Count("schedule_items__reading"),
            last_activity=Max("schedule_items__reading__submitted_at"),
        )
        .order_by("reader_index", "pk")
    )
    durations: dict[int, list[float]] = defaultdict(list)
    timings = Reading.objects.filter(schedule_item__study=study, schedule_item__training=False).values_list(
        "schedule_item__membership_id", "shown_at", "submitted_at"
    )
    for membership_id, shown_at, submitted_at in timings:
        durations[membership_id].append((submitted_at - shown_at).total_seconds())
    return [
        ReaderProgress(
            pseudonym=member.pseudonym,
            reader_index=member.reader_index,
            completed=member.completed,
            total=member.total,
            last_activity=member.last_activity,
            median_s=statistics.median(durations[member.pk]) if durations.get(member.pk) else None,
            consented=member.consented_at is not None,
            finished_at=member.completed_at,
        )
        for member in members
    ]


def case_progress(study: Study, arm_names: list[str] | None = None) -> list[CaseProgress]:
    """Per case and arm, measured readings done and scheduled (1 query); cells follow ``arm_names``."""
    counts = (
        ScheduleItem.objects.filter(study=study, training=False)
        .values("case__key", "arm__name")
        .annotate(scheduled=Count("pk"), read=Count("reading"))
        .order_by("case__key", "arm__name")
    )
    by_case: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in counts:
        by_case[row["case__key"]][row["arm__name"]] = (row["read"], row["scheduled"])
    names = arm_names or []
    return [
        CaseProgress(case=key, by_arm=arms, cells=tuple(arms.get(name) for name in names))
        for key, arms in by_case.items()
    ]


def study_progress(study: Study) -> StudyProgress:
    """Everything the progress page shows (4 queries whatever the size of the study)."""
    readers = readers_progress(study)
    arms = list(study.arms.all())
    return StudyProgress(
        readers=readers,
        cases=case_progress(study, [arm.name for arm in arms]),
        arms=arms,
        totals={
            "readers": len(readers),
            "finished": sum(1 for r in readers if r.total and r.completed == r.total),
            "completed": sum(r.completed for r in readers),
            "scheduled": sum(r.total for r in readers),
        },
    )


def progress_fingerprint(study: Study) -> str:
    """Changes whenever the progress page would (2 queries): status, members, consents, readings."""
    members = Membership.objects.filter(study=study).aggregate(
        n=Count("pk"),
        consented=Count("pk", filter=Q(consented_at__isnull=False)),
        finished=Count("pk", filter=Q(completed_at__isnull=False)),
    )
    readings = Reading.objects.filter(schedule_item__study=study).aggregate(n=Count("pk"), last=Max("pk"))
    return (
        f"{study.status}-{members['n']}-{members['consented']}-{members['finished']}-"
        f"{readings['n']}-{readings['last'] or 0}"
    )


@dataclass(frozen=True)
class OverviewCounts:
    """What the study overview's "Next step" is decided from, each counted from its own rows."""

    readers: int
    readers_started: int  # readers with at least one reading
    readers_finished: int


def study_overview_counts(study: Study) -> OverviewCounts:
    readers = Membership.objects.filter(study=study, role=Role.READER).aggregate(
        n=Count("pk"), finished=Count("pk", filter=Q(completed_at__isnull=False))
    )
    started = (
        Reading.objects.filter(schedule_item__study=study, schedule_item__membership__role=Role.READER)
        .values("schedule_item__membership_id")
        .distinct()
        .count()
    )
    return OverviewCounts(readers["n"], started, readers["finished"])


def site_progress(study: Study) -> list[dict]:
    """Per site of a multi-site study: readers, finished readers, measured readings done and
    scheduled (one query; empty when the study has no sites, readers without a site as "")."""
    rows = (
        ScheduleItem.objects.filter(study=study, training=False, study__sites__isnull=False)
        .values("membership__site__name")
        .annotate(
            readers=Count("membership", distinct=True),
            finished=Count("membership", filter=Q(membership__completed_at__isnull=False), distinct=True),
            scheduled=Count("pk", distinct=True),
            completed=Count("reading", distinct=True),
        )
        .order_by("membership__site__name")
    )
    return [
        {"site": row["membership__site__name"] or "", "readers": row["readers"], "finished": row["finished"],
         "completed": row["completed"], "scheduled": row["scheduled"],
         "percent": round(100 * row["completed"] / row["scheduled"]) if row["scheduled"] else 0}
        for row in rows
    ]

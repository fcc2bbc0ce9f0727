"""Which MRMC design the readings follow, and which methods are valid for it.

Reads who read which case in which arm (columns reader, case, arm) and names the design:

- ``fully_crossed``: every reader read every case in both arms;
- ``split_plot``: readers fall into g >= 2 groups, each group read its own block of cases (the
  blocks do not overlap) in both arms, fully crossed within the block (Obuchowski, Gallas &
  Hillis, Acad Radiol 2012;19:1508-17);
- ``unpaired``: no reader read in both arms (parallel groups of readers);
- ``reader_subset``: anything else with readers in both arms (quotas, randomised blocks that give
  each reader each case in one arm only, missing readings).

ORH/DBM need the fully crossed design; the split-plot ORH needs the split-plot design; the
U-statistics (:mod:`analysis.ustat`) are valid for every design.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.readings import InputError

DESIGNS = ("fully_crossed", "split_plot", "reader_subset", "unpaired")

# design -> (valid methods, the method the platform runs by default)
VALID_METHODS: dict[str, tuple[tuple[str, ...], str]] = {
    "fully_crossed": (("orh", "dbm", "ustat"), "orh"),
    "split_plot": (("splitplot", "ustat"), "splitplot"),
    "reader_subset": (("ustat",), "ustat"),
    "unpaired": (("ustat",), "ustat"),
}

# ORH on an almost fully crossed design (a few missing readings) analyses the complete part with a
# warning; below this share of the readings it refuses and points to the U-statistics.
ORH_MIN_COMPLETE_SHARE = 0.8


@dataclass(frozen=True)
class Design:
    kind: str
    n_readers: int
    n_cases: int
    n_readings: int
    readers_both_arms: int
    groups: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()  # split-plot: (readers, cases)
    complete_share: float = 1.0  # readings in the largest fully crossed part ORH would keep
    notes: tuple[str, ...] = field(default=())

    @property
    def valid_methods(self) -> tuple[str, ...]:
        return VALID_METHODS[self.kind][0]

    @property
    def default_method(self) -> str:
        return VALID_METHODS[self.kind][1]

    def describe(self) -> str:
        if self.kind == "split_plot":
            return f"split-plot with {len(self.groups)} blocks"
        return self.kind.replace("_", " ")

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "description": self.describe(),
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "n_readings": self.n_readings,
            "readers_both_arms": self.readers_both_arms,
            "n_blocks": len(self.groups) if self.groups else None,
            "blocks": [
                {"readers": list(readers), "n_cases": len(cases)} for readers, cases in self.groups
            ],
            "complete_share": self.complete_share,
            "valid_methods": list(self.valid_methods),
            "default_method": self.default_method,
            "notes": list(self.notes),
        }


def detect_design(data: pd.DataFrame, *, control: str, treatment: str, score: str | None = None) -> Design:
    """The design of the (reader, case, arm) readings of the two arms (rows without `score` ignored)."""
    rows = data[data["arm"].isin([control, treatment])]
    if score is not None:
        rows = rows.dropna(subset=[score])
    rows = rows.drop_duplicates(["reader", "case", "arm"])
    if rows.empty:
        raise InputError("no readings in the two arms to analyse")
    read = {
        arm: {r: frozenset(g["case"]) for r, g in rows[rows["arm"] == arm].groupby("reader")}
        for arm in (control, treatment)
    }
    readers = sorted(set(read[control]) | set(read[treatment]))
    cases = frozenset(rows["case"])
    both = [r for r in readers if r in read[control] and r in read[treatment]]
    base = dict(n_readers=len(readers), n_cases=len(cases), n_readings=len(rows), readers_both_arms=len(both))
    if not both:
        return Design("unpaired", **base, complete_share=0.0,
                      notes=("no reader read in both arms: parallel groups of readers",))
    if len(both) == len(readers) and all(read[a][r] == cases for a in read for r in readers):
        return Design("fully_crossed", **base)
    share = _complete_share(read, both, cases, len(rows))
    groups = _split_plot_groups(read, readers, control, treatment)
    if groups is not None:
        return Design("split_plot", **base, groups=groups, complete_share=share)
    notes = []
    one_arm = all(not (read[control][r] & read[treatment][r]) for r in both)
    if one_arm:
        notes.append("each reader read each case in one arm only")
    if len(both) < len(readers):
        notes.append(f"{len(readers) - len(both)} reader(s) read in one arm only")
    return Design("reader_subset", **base, complete_share=share, notes=tuple(notes))


def _split_plot_groups(read: dict, readers: list[str], control: str, treatment: str):
    """Reader groups with disjoint case blocks read in both arms, or None if not split-plot."""
    blocks: dict[frozenset, list[str]] = {}
    for r in readers:
        if read[control].get(r) != read[treatment].get(r) or r not in read[control]:
            return None
        blocks.setdefault(read[control][r], []).append(r)
    if len(blocks) < 2:
        return None
    case_sets = list(blocks)
    for i, a in enumerate(case_sets):
        for b in case_sets[i + 1 :]:
            if a & b:
                return None
    ordered = sorted(blocks.items(), key=lambda item: sorted(item[1])[0])
    return tuple((tuple(sorted(rs)), tuple(sorted(cs))) for cs, rs in ordered)


def _complete_share(read: dict, both: list[str], cases: frozenset, n_readings: int) -> float:
    """Share of readings in the fully crossed part ORH keeps (its readers x cases read by all)."""
    common = cases
    for arm in read:
        for r in both:
            common = common & read[arm][r]
    return 2 * len(both) * len(common) / n_readings if n_readings else 0.0


def check_method(design: Design, method: str) -> list[str]:
    """Warnings for running `method` on `design`; raises InputError when it does not fit at all."""
    if method in design.valid_methods:
        return []
    valid = " or ".join(f"--method {m}" for m in design.valid_methods)
    if method in ("orh", "dbm") and design.kind in ("reader_subset", "split_plot"):
        if design.complete_share >= ORH_MIN_COMPLETE_SHARE and design.kind == "reader_subset":
            return [
                f"design is {design.describe()}: ORH/DBM analyse only the fully crossed part "
                f"({design.complete_share:.0%} of the readings); the U-statistics (--method ustat) use all"
            ]
        raise InputError(
            f"ORH/DBM need a fully crossed design, but this one is {design.describe()} "
            f"(only {design.complete_share:.0%} of the readings are in a fully crossed part); use {valid}"
        )
    raise InputError(f"--method {method} does not fit a {design.describe()} design; use {valid}")

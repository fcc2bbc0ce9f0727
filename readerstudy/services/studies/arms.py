"""The arms a design needs, and how they are ordered for the scheduler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from readerstudy.core.study_settings import assist_problems
from readerstudy.models import Arm, ArmKind, Design


@dataclass(frozen=True)
class ArmSpec:
    name: str
    label: str
    kind: str
    assist: Mapping[str, Any] = field(default_factory=dict)


def default_arms(design: str) -> list[ArmSpec]:
    """The arms a design needs: unaided alone for benchmark, unaided and AI otherwise."""
    arms = [ArmSpec(name="unaided", label="Unaided", kind=ArmKind.UNAIDED)]
    if design != Design.BENCHMARK:
        arms.append(
            ArmSpec(
                name="ai",
                label="AI-assisted",
                kind=ArmKind.AI,
                assist={"top_k": 3, "show_probabilities": True, "faulty_rate": 0.0},
            )
        )
    return arms


def arm_assist_problems(arms: Sequence[ArmSpec | Arm]) -> list[str]:
    """Typed checks of each arm's kind and AI display options (``arms[i].assist.top_k: ...``)."""
    problems = []
    for i, arm in enumerate(arms):
        if arm.kind not in ArmKind.values:
            problems.append(f"arms[{i}].kind: must be one of {', '.join(ArmKind.values)}")
            continue
        problems += assist_problems(arm.kind, arm.assist, prefix=f"arms[{i}].assist.")
    return problems


def arm_problems(design: str, arms: Sequence[ArmSpec | Arm]) -> list[str]:
    """What is wrong with these arms for the design (empty when they fit), typed checks first."""
    kinds = [arm.kind for arm in arms]
    names = [arm.name for arm in arms]
    problems = arm_assist_problems(arms)
    if len(set(names)) != len(names) or not all(names):
        problems.append("Arm names must be non-empty and distinct.")
    n_unaided, n_ai = kinds.count(ArmKind.UNAIDED), kinds.count(ArmKind.AI)
    label = Design(design).label if design in Design.values else design
    if design in (Design.SEQUENTIAL, Design.RANDOMISED_BLOCKS, Design.CROSSOVER) and (n_unaided, n_ai) != (
        1,
        1,
    ):
        problems.append(
            f"{label} needs exactly one unaided arm and one AI arm (it has {n_unaided} unaided, {n_ai} AI)."
        )
    elif design == Design.PARALLEL and len(arms) < 2:
        problems.append(f"{label} needs at least two arms (it has {len(arms)}).")
    elif design == Design.BENCHMARK and (n_unaided, n_ai) != (1, 0):
        problems.append(
            f"{label} needs exactly one unaided arm and no AI arm (it has {n_unaided} unaided, {n_ai} AI)."
        )
    return problems


def ordered_arms(arms: Sequence[Arm]) -> list[Arm]:
    """Arms as the scheduler wants them: the unaided (control) arm first, then by order."""
    return sorted(arms, key=lambda arm: (arm.kind != ArmKind.UNAIDED, arm.order, arm.name))

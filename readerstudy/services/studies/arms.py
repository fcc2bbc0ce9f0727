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
    """What is wrong with these arms for the design (empty when they fit), typed checks first.

    The scheduler (readerstudy.core.scheduling) takes ``arms[0]`` as the unaided/control arm and
    the AI arms after it, so the arm counts follow what each design can randomise:

    * sequential: one unaided arm, then one or more AI arms (each reader's phase-2 arm is drawn
      from them in permuted blocks);
    * randomised blocks: one unaided arm and one or more AI arms, blocks cycling through all;
    * crossover: exactly one unaided and one AI arm (session 2 reads each case in *the other* arm);
    * parallel: two or more arms, at least one AI and at most one unaided (the control when
      present; without one, the first arm by order is the control of a head-to-head comparison);
    * benchmark: the unaided arm alone.
    """
    problems = arm_assist_problems(arms)
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names) or not all(names):
        problems.append("Arm names must be non-empty and distinct.")
    problem = _design_arm_problem(design, arms)
    return problems + ([problem] if problem else [])


def _design_arm_problem(design: str, arms: Sequence[ArmSpec | Arm]) -> str:
    unaided = [arm.name for arm in arms if arm.kind == ArmKind.UNAIDED]
    aided = [arm.name for arm in arms if arm.kind == ArmKind.AI]
    n_unaided, n_ai = len(unaided), len(aided)
    label = Design(design).label if design in Design.values else design
    has = f"unaided arms: {_named(unaided)}; AI arms: {_named(aided)}"
    if design in (Design.SEQUENTIAL, Design.RANDOMISED_BLOCKS) and (n_unaided != 1 or n_ai < 1):
        return f"{label} needs exactly one unaided arm and at least one AI arm ({has})."
    if design == Design.CROSSOVER and (n_unaided, n_ai) != (1, 1):
        return (f"{label} needs exactly one unaided arm and one AI arm ({has}): session 2 reads each "
                "case in the other arm, which only two arms define.")
    if design == Design.PARALLEL and len(arms) < 2:
        return f"{label} needs at least two arms (it has {len(arms)})."
    if design == Design.PARALLEL and (n_unaided > 1 or n_ai < 1):
        return f"{label} needs at least one AI arm and at most one unaided arm ({has})."
    if design == Design.BENCHMARK and (n_unaided, n_ai) != (1, 0):
        return f"{label} needs exactly one unaided arm and no AI arm (it has {n_unaided} unaided, {n_ai} AI)."
    return ""


def _named(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def ordered_arms(arms: Sequence[Arm]) -> list[Arm]:
    """Arms as the scheduler wants them: the unaided (control) arm first, then by order."""
    return sorted(arms, key=lambda arm: (arm.kind != ArmKind.UNAIDED, arm.order, arm.name))

"""A study's options and its arms' AI display, typed and validated in one place.

:func:`parse_study_settings` (``Study.settings``) and :func:`parse_arm_assist` (``Arm.assist``) are
the one schema the pages (``readerstudy.forms``), the API serializers and the services
(create, update and again at launch) use. Every value is checked for its type and range; a
problem names the field (``settings.top_k``, ``arms[1].assist.top_k``) so the API answers 400 with
the field and the form puts the message beside it. Unknown keys are errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class AiDisplay:
    top_k: int = 3
    show_probabilities: bool = True


@dataclass(frozen=True)
class StudySettings:
    top_k: int = 3                      # differential length the reader gives
    ask_confidence: bool = True         # 1-5
    ask_management: bool = True
    ask_malignancy: bool = False        # 0-100 score
    time_limit_s: int | None = None     # per case; None = no limit
    feedback: bool = False              # show the reference diagnosis after submitting
    washout_days: int = 14              # crossover: days between sessions
    allow_back: bool = False            # may readers skip cases and return to them (answers stay final)
    block_size: int = 10                # randomised blocks
    generic_credit: bool = False        # same-group code counts as correct ("generic" credit)
    max_readers: int | None = None
    training_cases: tuple[str, ...] = ()
    repeat_cases: int = 0
    quota: int | None = None
    stratify_by: str = ""               # shuffle case order within strata of this case field or extra key
    completion_threshold: float = 0.95  # a reader counts if this share of readings is valid
    consent_elsewhere: bool = False     # consent collected outside the platform (shown to readers, exported)
    ai: AiDisplay = field(default_factory=AiDisplay)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["training_cases"] = list(self.training_cases)
        return data


class SettingsError(ValueError):
    """Invalid settings: ``problems`` are ``"<field>: <message>"`` sentences, ``fields`` the same by field."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems
        self.fields: dict[str, list[str]] = {}
        for problem in problems:
            name, _, message = problem.partition(": ")
            self.fields.setdefault(name, []).append(message)


# --- the schema: one checker per key ---------------------------------------------------------------

Checker = Callable[[Any], str | None]  # None when the value is valid, else what is wrong


def _integer(low: int, high: int, *, optional: bool = False, empty: str = "") -> Checker:
    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}" + (f", or empty {empty}" if optional else "")
        return None

    return check


def _number(low: float, high: float, *, low_open: bool = False) -> Checker:
    def check(value: Any) -> str | None:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and (low < value if low_open else low <= value) and value <= high)
        return None if ok else f"must be a number {'above' if low_open else 'from'} {low} {'and at most' if low_open else 'to'} {high}"

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _text(max_length: int) -> Checker:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > max_length:
            return f"must be text of at most {max_length} characters"
        return None

    return check


def _case_keys(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(key, str) and key for key in value):
        return "must be a list of case ids"
    if len(value) > 1000:
        return "at most 1000 training cases"
    return None



def _choice(options: tuple[str, ...]) -> Checker:
    def check(value: Any) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)} (got {value!r})"

    return check


STUDY_SCHEMA: dict[str, Checker] = {
    "top_k": _integer(1, 5),
    "ask_confidence": _boolean,
    "ask_management": _boolean,
    "ask_malignancy": _boolean,
    "time_limit_s": _integer(10, 86_400, optional=True, empty="for no limit"),
    "feedback": _boolean,
    "washout_days": _integer(0, 3_650),
    "allow_back": _boolean,
    "block_size": _integer(1, 10_000),
    "generic_credit": _boolean,
    "max_readers": _integer(1, 100_000, optional=True, empty="for no cap"),
    "training_cases": _case_keys,
    "repeat_cases": _integer(0, 1_000),
    "quota": _integer(1, 1_000_000, optional=True, empty="for all cases"),
    "stratify_by": _text(60),
    "completion_threshold": _number(0, 1, low_open=True),
    "consent_elsewhere": _boolean,
}
AI_DISPLAY_SCHEMA: dict[str, Checker] = {
    "top_k": _integer(1, 10),
    "show_probabilities": _boolean,
}
# Arm.assist of an AI arm (the reader pages read these keys); an unaided arm has none.
DISPLAYS = ("differential", "malignancy", "similar_cases", "concepts", "learned_concepts")
ARM_ASSIST_SCHEMA: dict[str, Checker] = {
    "display": _choice(DISPLAYS),
    "top_k": _integer(1, 10),
    "show_probabilities": _boolean,
    "faulty_rate": _number(0, 1),
    "on_request": _boolean,            # the AI stays hidden until the reader presses "Show AI"
    "threshold": _number(0, 1),        # malignancy: the operating threshold of the gauge
    "n_similar": _integer(8, 16),      # similar cases: gallery size
    "group_by_diagnosis": _boolean,    # similar cases: gallery grouped by diagnosis
    "knn_vote": _boolean,              # similar cases: show the neighbours' vote
    "n_concepts": _integer(3, 15),     # concepts: chips shown
    "artefact_robust": _boolean,       # learned concepts: re-score without hair/ink/ruler latents
}
assert set(STUDY_SCHEMA) | {"ai"} == {f.name for f in fields(StudySettings)}
assert set(AI_DISPLAY_SCHEMA) == {f.name for f in fields(AiDisplay)}


def _problems(raw: Mapping[str, Any], schema: Mapping[str, Checker], prefix: str) -> list[str]:
    problems = [f"{prefix}{key}: unknown option" for key in raw if key not in schema]
    for key, value in raw.items():
        message = schema[key](value) if key in schema else None
        if message:
            problems.append(f"{prefix}{key}: {message}")
    return problems


def parse_study_settings(raw: Mapping[str, Any] | None) -> StudySettings:
    """Validate raw settings (types, ranges; unknown keys are errors) and fill defaults."""
    if raw is not None and not isinstance(raw, Mapping):
        raise SettingsError(["settings: must be an object of options"])
    raw = dict(raw or {})
    ai_raw = raw.pop("ai", None)
    if ai_raw is None:
        ai_raw = {}
    if not isinstance(ai_raw, Mapping):
        raise SettingsError(["settings.ai: must be an object of AI display options"])
    problems = _problems(raw, STUDY_SCHEMA, "settings.") + _problems(ai_raw, AI_DISPLAY_SCHEMA, "settings.ai.")
    if problems:
        raise SettingsError(problems)
    raw["training_cases"] = tuple(raw.get("training_cases", ()))
    if "completion_threshold" in raw:
        raw["completion_threshold"] = float(raw["completion_threshold"])
    return StudySettings(**raw, ai=AiDisplay(**ai_raw))


def assist_problems(kind: str, assist: Any, *, prefix: str = "assist.") -> list[str]:
    """What is wrong with an arm's AI display options (``kind`` "ai" or "unaided"); empty when valid."""
    if not isinstance(assist, Mapping):
        return [f"{prefix.rstrip('.')}: must be an object of AI display options"]
    if kind != "ai":
        return [f"{prefix}{key}: an unaided arm shows no AI, so it takes no display options" for key in assist]
    return _problems(assist, ARM_ASSIST_SCHEMA, prefix)


def parse_arm_assist(kind: str, assist: Any) -> dict[str, Any]:
    """The arm's display options, validated (raises :class:`SettingsError` naming the key)."""
    problems = assist_problems(kind, assist)
    if problems:
        raise SettingsError(problems)
    return dict(assist)

"""A study's options, read from Study.settings with defaults and validation in one place."""

from __future__ import annotations

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
    ai: AiDisplay = field(default_factory=AiDisplay)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["training_cases"] = list(self.training_cases)
        return data


class SettingsError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _check(problems: list[str], ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


def parse_study_settings(raw: dict[str, Any] | None) -> StudySettings:
    """Validate raw settings (unknown keys are errors) and fill defaults."""
    raw = dict(raw or {})
    known = {f.name for f in fields(StudySettings)}
    problems = [f"settings.{key}: unknown option" for key in raw if key not in known]
    ai_raw = raw.pop("ai", None) or {}
    ai_known = {f.name for f in fields(AiDisplay)}
    problems += [f"settings.ai.{key}: unknown option" for key in ai_raw if key not in ai_known]
    if problems:
        raise SettingsError(problems)
    try:
        ai = AiDisplay(**ai_raw)
        raw["training_cases"] = tuple(raw.get("training_cases", ()))
        result = StudySettings(**raw, ai=ai)
    except TypeError as exc:
        raise SettingsError([f"settings: {exc}"]) from exc
    _check(problems, isinstance(result.top_k, int) and 1 <= result.top_k <= 5, "settings.top_k: must be 1-5")
    _check(problems, result.time_limit_s is None or result.time_limit_s >= 10,
           "settings.time_limit_s: at least 10 seconds, or empty for no limit")
    _check(problems, isinstance(result.washout_days, int) and result.washout_days >= 0,
           "settings.washout_days: must be >= 0")
    _check(problems, isinstance(result.block_size, int) and result.block_size >= 1, "settings.block_size: must be >= 1")
    _check(problems, result.max_readers is None or result.max_readers >= 1, "settings.max_readers: must be >= 1")
    _check(problems, result.repeat_cases >= 0, "settings.repeat_cases: must be >= 0")
    _check(problems, result.quota is None or result.quota >= 1, "settings.quota: must be >= 1")
    _check(problems, isinstance(result.stratify_by, str), "settings.stratify_by: must be a case field name")
    _check(problems, 0 < result.completion_threshold <= 1, "settings.completion_threshold: must be in (0, 1]")
    _check(problems, 1 <= result.ai.top_k <= 10, "settings.ai.top_k: must be 1-10")
    if problems:
        raise SettingsError(problems)
    return result

"""Shared pieces of the study services: errors, row locks, settings parsing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from readerstudy.core.study_settings import SettingsError, StudySettings, parse_study_settings
from readerstudy.models import Study

Actor = AbstractBaseUser | AnonymousUser | None


class StudyError(ValueError):
    """A refused study operation; ``problems`` are sentences a coordinator can act on."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class InvitationError(StudyError):
    pass


class StudyInvalid(StudyError):
    """Invalid input (settings, arms): ``fields`` maps each field (``settings.top_k``) to its problems.

    The API answers it with 400 and the fields in ``details``; other refusals are 409.
    """

    def __init__(self, problems: list[str] | str, fields: dict[str, list[str]] | None = None):
        super().__init__(problems)
        self.fields = dict(fields or {})


def lock_study(study: Study) -> Study:
    """The study row, locked until the transaction ends: serialises launches, enrolments, transitions."""
    return Study.objects.select_for_update().select_related("case_set").get(pk=study.pk)


def parse_settings(raw: Mapping[str, Any] | None) -> StudySettings:
    try:
        return parse_study_settings(dict(raw or {}))
    except SettingsError as exc:
        raise StudyInvalid(exc.problems, exc.fields) from exc


def settings_or_default(study: Study) -> StudySettings:
    """The study's settings, or the defaults while a draft holds invalid ones."""
    try:
        return parse_study_settings(study.settings)
    except SettingsError:
        return StudySettings()


def is_user(actor: Actor) -> bool:
    return actor is not None and bool(getattr(actor, "is_authenticated", False))

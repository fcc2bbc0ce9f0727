"""The study tabs every study page shows (overview, settings, ..., AI outputs, evaluation, analyses).

One list, so the tabs are the same on every page and in the same place; a page another app
provides is left out when that app is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from readerstudy.models import Study


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url: str


# key, label, url name, who sees it ("manage": coordinators only, "monitor": coordinators and statisticians)
TABS = (
    ("detail", _("Overview"), "studies:detail", "monitor"),
    ("edit", _("Settings"), "studies:edit", "manage"),
    ("invitations", _("Invitations"), "studies:invitations", "manage"),
    ("progress", _("Progress"), "studies:progress", "monitor"),
    ("precompute", _("AI outputs"), "study_ai:precompute", "manage"),
    ("evaluation", _("Model evaluation"), "study_ai:evaluation", "monitor"),
    ("analysis", _("Analyses"), "analysis:list", "monitor"),
)


def study_tabs(study: Study, *, manager: bool) -> list[Tab]:
    """The tabs this user sees for the study (the caller has already checked access)."""
    tabs = []
    for key, label, name, audience in TABS:
        if audience == "manage" and not manager:
            continue
        if key == "evaluation" and study.model_version_id is None:
            continue
        tabs.append(Tab(key, label, reverse(name, args=[study.slug])))
    return tabs

"""Sites of a multinational study: each has a country, a default language and its own invitation
links; readers who join through a site's link belong to it, and their readings carry it."""

from __future__ import annotations

from django.db import transaction

from common.audit import audit_record
from readerstudy.models import Site, Study, StudyStatus
from readerstudy.services.studies.common import Actor, StudyError, StudyInvalid, lock_study
from readerstudy.services.studies.texts import STUDY_LANGUAGES, normalize_language, study_languages


@transaction.atomic
def site_create(*, study: Study, name: str, actor: Actor, country: str = "", default_language: str = "") -> Site:
    """Add a site (allowed while the study runs: a site changes no schedule or reading)."""
    locked = lock_study(study)
    if locked.status == StudyStatus.CLOSED:
        raise StudyError("The study is closed: it takes no new sites.")
    name = " ".join(name.split())
    language = normalize_language(default_language) if default_language else locked.default_language
    problems: dict[str, list[str]] = {}
    if not name:
        problems["name"] = ["Name the site."]
    elif Site.objects.filter(study=locked, name__iexact=name).exists():
        problems["name"] = [f"The study already has a site named “{name}”."]
    if language is None:
        problems["default_language"] = [f"Unknown language {default_language!r} (offered: {', '.join(STUDY_LANGUAGES)})."]
    elif language not in study_languages(locked):
        problems["default_language"] = [f"The study does not offer {language}: add it to the study's languages first."]
    if problems:
        raise StudyInvalid([m for ms in problems.values() for m in ms], problems)
    site = Site(study=locked, name=name, country=" ".join(country.split()), default_language=language)
    site.full_clean()
    site.save()
    audit_record(actor=actor, action="site.create", study=locked, obj=site,
                 data={"name": site.name, "country": site.country, "default_language": language})
    return site

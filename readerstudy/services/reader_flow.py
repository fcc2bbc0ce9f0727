"""The reader's steps before and around the cases: consent, demographics, instructions, shown times."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from catalog.taxonomy_format import OTHER_CODE
from common.audit import audit_record
from readerstudy.models import (
    ConsentRecord,
    Membership,
    MembershipDemographics,
    ReaderProfile,
    ReadingDraft,
    ScheduleItem,
    TextKind,
)
from readerstudy.selectors.blinding import require_open
from readerstudy.selectors.position import consent_collected_elsewhere, study_settings_for
from readerstudy.selectors.taxonomy import taxonomy_lookups
from readerstudy.services.studies.texts import current_language, text_for_reader

# Hashed before the consent text when the study's consent was collected outside the platform.
ELSEWHERE_PREFIX = "[consent collected elsewhere]\n"
PROFILE_FIELDS = ("profession", "years_experience", "dermoscopy_use", "country", "age_band")


@transaction.atomic
def consent_record(*, membership: Membership, agreed: bool, language: str | None = None) -> ConsentRecord:
    """Record consent to the study's current consent text (once per version), timestamped, with the
    language and the sha256 of the exact text the reader saw (``language``: the interface language,
    by default the active one)."""
    if not agreed:
        raise ValidationError({"agree": gettext("Tick the box to give your consent, or close this page to decline.")})
    study = membership.study
    elsewhere = consent_collected_elsewhere(study)
    # The text in the reader's language (else the study's default): its language and version are kept.
    text = text_for_reader(study, TextKind.CONSENT, membership=membership, language=language)
    # With consent collected elsewhere the reader confirms that; the record says so in its digest.
    shown = (ELSEWHERE_PREFIX if elsewhere else "") + text.text
    digest = hashlib.sha256(shown.encode("utf-8")).hexdigest()
    record, created = ConsentRecord.objects.get_or_create(
        membership=membership, consent_version=study.consent_version,
        defaults={"text_sha256": digest, "language": text.language, "text_version": text.version},
    )
    if membership.consented_at is None:
        Membership.objects.filter(pk=membership.pk, consented_at__isnull=True).update(consented_at=record.consented_at)
        membership.consented_at = record.consented_at
    if created:
        audit_record(
            actor=membership.user, action="reader.consent", study=study, obj=record,
            data={"consent_version": record.consent_version, "text_sha256": digest, "elsewhere": elsewhere,
                  "language": text.language, "text_version": text.version},
        )
    return record


@transaction.atomic
def demographics_save(*, membership: Membership, data: dict[str, Any]) -> ReaderProfile:
    """Store this study's snapshot of the reader's answers and mark the step done.

    The snapshot (:class:`MembershipDemographics`) is what this study's exports read; it is taken
    once and changes only by an audited correction. The profile keeps the last answers, to
    pre-fill the form in the reader's next study; changing it never touches earlier studies.
    """
    values = {name: data[name] for name in PROFILE_FIELDS}
    profile = ReaderProfile.objects.filter(user=membership.user).first() or ReaderProfile(user=membership.user)
    for name, value in values.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    if not MembershipDemographics.objects.filter(membership=membership).exists():
        snapshot = MembershipDemographics(membership=membership, site_id=membership.site_id,
                                          language=current_language(), **values)
        snapshot.full_clean()
        snapshot.save()
    membership.demographics_done = True
    membership.save(update_fields=["demographics_done"])
    audit_record(
        actor=membership.user, action="reader.demographics", study=membership.study, obj=profile,
        data={k: str(v) for k, v in values.items()},
    )
    return profile


@transaction.atomic
def instructions_seen(*, membership: Membership) -> None:
    if membership.instructions_seen:
        return
    membership.instructions_seen = True
    membership.save(update_fields=["instructions_seen"])
    audit_record(actor=membership.user, action="reader.instructions_seen", study=membership.study, obj=membership)


def item_mark_shown(*, item: ScheduleItem) -> dt.datetime:
    """Set the item's shown time the first time it is shown; later views (resume) keep it.

    Only an item open to its reader now starts its clock (else :class:`ItemNotOpen`, a 404)."""
    membership = item.membership
    membership.study = item.study
    require_open(membership, item)
    if item.shown_at is not None:  # loaded with the item; once set it never changes
        return item.shown_at
    return _item_mark_shown_first(item=item)


@transaction.atomic
def _item_mark_shown_first(*, item: ScheduleItem) -> dt.datetime:
    now = timezone.now()
    updated = ScheduleItem.objects.filter(pk=item.pk, shown_at__isnull=True).update(shown_at=now)
    if updated:
        item.shown_at = now
        audit_record(
            actor=item.membership.user, action="reader.item_shown", study=item.study, obj=item,
            data={"position": item.position, "phase": item.phase, "session": item.session},
        )
    else:  # another request showed it first: keep its time
        item.shown_at = ScheduleItem.objects.values_list("shown_at", flat=True).get(pk=item.pk)
    return item.shown_at


DRAFT_TEXT_MAX = 200


def _draft_data(study_settings, taxonomy_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """What a draft keeps of the posted case form: known codes in order, short strings, nothing else."""
    known = taxonomy_lookups(taxonomy_id).names
    codes = [str(code).strip()[:40] for code in payload.get("differential") or []]
    differential = [code if code in known or code == OTHER_CODE else "" for code in codes][:study_settings.top_k]
    while differential and not differential[-1]:
        differential.pop()

    def short(name: str, limit: int = 40) -> str:
        return " ".join(str(payload.get(name) or "").split())[:limit]

    return {"differential": differential, "other_text": short("other_text", DRAFT_TEXT_MAX),
            "confidence": short("confidence", 3), "management": short("management"),
            "malignancy": short("malignancy", 3)}


@transaction.atomic
def draft_save(*, membership: Membership, item: ScheduleItem, payload: dict[str, Any]) -> ReadingDraft:
    """Keep the reader's unfinished answer to their open item (one draft per item, replaced each time).

    A draft is not a reading: it is never counted, validated as an answer or exported, and it is
    deleted when the reading is stored. Refuses (:class:`ItemNotOpen`) an item that is not open."""
    membership.study = item.study
    require_open(membership, item)
    data = _draft_data(study_settings_for(item.study), item.study.case_set.taxonomy_id, payload)
    draft, created = ReadingDraft.objects.update_or_create(schedule_item=item, defaults={"data": data})
    if created:
        audit_record(actor=membership.user, action="reader.draft", study=item.study, obj=item,
                     data={"position": item.position, "phase": item.phase})
    return draft

"""The reader's steps before and around the cases: consent, demographics, instructions, shown times."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from readerstudy.models import ConsentRecord, Membership, ReaderProfile, ScheduleItem
from readerstudy.services.audit import audit_record

PROFILE_FIELDS = ("profession", "years_experience", "dermoscopy_use", "country", "age_band")


@transaction.atomic
def consent_record(*, membership: Membership, agreed: bool) -> ConsentRecord:
    """Record consent to the study's current consent text (once per version), timestamped."""
    if not agreed:
        raise ValidationError({"agree": "Tick the box to give your consent, or close this page to decline."})
    study = membership.study
    digest = hashlib.sha256(study.consent_text.encode("utf-8")).hexdigest()
    record, created = ConsentRecord.objects.get_or_create(
        membership=membership, consent_version=study.consent_version, defaults={"text_sha256": digest}
    )
    if membership.consented_at is None:
        Membership.objects.filter(pk=membership.pk, consented_at__isnull=True).update(consented_at=record.consented_at)
        membership.consented_at = record.consented_at
    if created:
        audit_record(
            actor=membership.user, action="reader.consent", study=study, obj=record,
            data={"consent_version": record.consent_version, "text_sha256": digest},
        )
    return record


@transaction.atomic
def demographics_save(*, membership: Membership, data: dict[str, Any]) -> ReaderProfile:
    """Store the reader's profile (shared across their studies) and mark the step done."""
    values = {name: data[name] for name in PROFILE_FIELDS}
    profile = ReaderProfile.objects.filter(user=membership.user).first() or ReaderProfile(user=membership.user)
    for name, value in values.items():
        setattr(profile, name, value)
    profile.full_clean()
    profile.save()
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
    """Set the item's shown time the first time it is shown; later views (resume) keep it."""
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

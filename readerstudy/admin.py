"""Admin for staff: studies and their records. Readings are read-only here as everywhere (append-only)."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin
from readerstudy import models as m


class ArmInline(admin.TabularInline):
    model = m.Arm
    extra = 0


@admin.register(m.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "design", "status", "created_at", "launched_at")
    list_filter = ("design", "status")
    search_fields = ("title", "slug")
    inlines = [ArmInline]


@admin.register(m.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("pseudonym", "study", "user", "role", "reader_index", "completed_at")
    list_filter = ("study", "role")
    list_select_related = ("study", "user")


@admin.register(m.ReaderProfile)
class ReaderProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "profession", "years_experience", "dermoscopy_use", "country", "age_band")


@admin.register(m.Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("study", "role", "single_use", "max_uses", "uses", "revoked", "created_at")


@admin.register(m.ScheduleItem)
class ScheduleItemAdmin(ReadOnlyAdmin):
    list_display = ("membership", "position", "case", "arm", "phase", "session", "training", "repeat")
    list_filter = ("study",)
    list_select_related = ("membership", "case", "arm")


@admin.register(m.Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = ("schedule_item", "submitted_at", "confidence", "management", "timed_out")
    list_select_related = ("schedule_item",)


@admin.register(m.ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ("membership", "consent_version", "consented_at")


@admin.register(m.AnalysisRun)
class AnalysisRunAdmin(ReadOnlyAdmin):
    list_display = ("study", "kind", "status", "created_at", "finished_at")

"""Admin for staff. Readings and audit events are read-only here as everywhere (append-only)."""

from django.contrib import admin

from readerstudy import models as m


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to staff, never edited or deleted through the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ConditionInline(admin.TabularInline):
    model = m.Condition
    extra = 0
    fields = ("code", "name", "group", "malignant", "icd10")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Taxonomy)
class TaxonomyAdmin(ReadOnlyAdmin):
    """A loaded taxonomy version is fixed (readings refer to its codes): load a new version instead."""

    list_display = ("name", "version", "created_at")
    inlines = [ConditionInline]


@admin.register(m.Condition)
class ConditionAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "group", "malignant", "icd10", "taxonomy")
    list_filter = ("taxonomy", "group", "malignant")
    search_fields = ("code", "name")


@admin.register(m.CaseSet)
class CaseSetAdmin(admin.ModelAdmin):
    list_display = ("name", "taxonomy", "created_at")


class CaseImageInline(admin.TabularInline):
    model = m.CaseImage
    extra = 0
    readonly_fields = ("role", "order", "file", "sha256", "width", "height")


@admin.register(m.Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("key", "case_set", "reference", "reference_source", "age", "sex", "fitzpatrick")
    list_filter = ("case_set", "reference_source")
    search_fields = ("key",)
    list_select_related = ("case_set", "reference")
    inlines = [CaseImageInline]


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


@admin.register(m.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "study", "object_type", "object_id")
    list_filter = ("action",)
    search_fields = ("action", "object_id")


@admin.register(m.AnalysisRun)
class AnalysisRunAdmin(ReadOnlyAdmin):
    list_display = ("study", "kind", "status", "created_at", "finished_at")

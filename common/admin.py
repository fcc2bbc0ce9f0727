"""The audit log in the admin (read-only), and the read-only base that append-only records use."""

from django.contrib import admin

from common.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to staff, never edited or deleted through the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False



@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "study_id", "object_type", "object_id")
    list_filter = ("action",)
    search_fields = ("action", "object_id")

from django.contrib import admin

from inference import models as m


@admin.register(m.ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "architecture", "calibrated", "temperature", "created_at")
    readonly_fields = ("weights_sha256",)


@admin.register(m.PrecomputeJob)
class PrecomputeJobAdmin(admin.ModelAdmin):
    list_display = ("model_version", "case_set", "status", "done", "failed", "total", "created_at")
    readonly_fields = [f.name for f in m.PrecomputeJob._meta.fields]


@admin.register(m.ModelOutput)
class ModelOutputAdmin(admin.ModelAdmin):
    list_display = ("case", "model_version", "status", "frozen", "created_at")
    list_filter = ("model_version", "status", "frozen")
    readonly_fields = [f.name for f in m.ModelOutput._meta.fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or not obj.frozen

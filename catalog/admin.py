"""Taxonomies (read-only once loaded) and case sets in the admin."""

from django.contrib import admin

from catalog import models as m
from common.admin import ReadOnlyAdmin


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

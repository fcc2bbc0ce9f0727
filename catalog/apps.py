from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Case catalogue"
    default_auto_field = "django.db.models.BigAutoField"

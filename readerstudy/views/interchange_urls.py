"""Data interchange pages (readings collected elsewhere)."""

from django.urls import path

from . import interchange

app_name = "interchange"

urlpatterns = [
    path("interchange/readings-import/", interchange.readings_import_page, name="readings_import"),
]

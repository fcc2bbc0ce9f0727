"""Reader pages (invitation, consent, demographics, instructions, cases, end)."""

from django.urls import path

from . import reader

app_name = "reader"

urlpatterns = [
    path("join/<str:token>/", reader.join, name="join"),
    path("s/<slug:slug>/", reader.start, name="start"),
    path("s/<slug:slug>/consent/", reader.consent, name="consent"),
    path("s/<slug:slug>/about-you/", reader.demographics, name="demographics"),
    path("s/<slug:slug>/instructions/", reader.instructions, name="instructions"),
    path("s/<slug:slug>/read/", reader.case, name="case"),
    path("s/<slug:slug>/feedback/<int:item_id>/", reader.feedback, name="feedback"),
    path("s/<slug:slug>/done/", reader.end, name="end"),
    path("s/<slug:slug>/image/<int:image_id>/", reader.image, name="image"),
    path("s/<slug:slug>/conditions.json", reader.conditions, name="conditions"),
]

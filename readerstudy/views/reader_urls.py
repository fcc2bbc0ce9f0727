"""Reader pages (invitation, consent, demographics, instructions, cases, end).

Every reader page is sent with ``Cache-Control: no-store`` (``never_cache``): on a shared clinic
workstation the back/forward cache must not show the previous reader's case or AI panel. Images
(revalidated by ETag, private) and the taxonomy index (no case data) keep their own caching.
"""

from django.urls import path
from django.views.decorators.cache import never_cache

from . import reader

app_name = "reader"

urlpatterns = [
    path("join/<str:token>/", never_cache(reader.join), name="join"),
    path("s/<slug:slug>/", never_cache(reader.start), name="start"),
    path("s/<slug:slug>/consent/", never_cache(reader.consent), name="consent"),
    path("s/<slug:slug>/about-you/", never_cache(reader.demographics), name="demographics"),
    path("s/<slug:slug>/instructions/", never_cache(reader.instructions), name="instructions"),
    path("s/<slug:slug>/read/", never_cache(reader.case), name="case"),
    path("s/<slug:slug>/read/draft/", never_cache(reader.case_draft), name="case_draft"),
    path("s/<slug:slug>/feedback/<int:item_id>/", never_cache(reader.feedback), name="feedback"),
    path("s/<slug:slug>/done/", never_cache(reader.end), name="end"),
    path("s/<slug:slug>/image/<int:image_id>/", reader.image, name="image"),
    path("s/<slug:slug>/library/<int:image_id>/", reader.library_image, name="library_image"),
    path("s/<slug:slug>/read/ai/", never_cache(reader.case_ai), name="case_ai"),
    path("s/<slug:slug>/conditions.json", reader.conditions, name="conditions"),
]

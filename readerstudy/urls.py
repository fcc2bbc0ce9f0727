from django.contrib import admin
from django.urls import include, path

from readerstudy.views.health import healthz

handler500 = "readerstudy.views.errors.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("inference/", include("inference.urls")),
    path("api/v1/", include("readerstudy.api.urls")),
    path("", include("readerstudy.views.urls")),
]
# MEDIA_ROOT is never served publicly, not even with DEBUG: case images go through the
# access-checked reader image view.

from django.conf import settings
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
if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

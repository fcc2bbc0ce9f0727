"""The project's URLs plus the inference app's, whether or not the project includes them yet."""

from django.urls import include, path

from readerstudy.urls import urlpatterns as project_urlpatterns

urlpatterns = list(project_urlpatterns)
if not any(getattr(p, "namespace", None) == "inference" for p in urlpatterns):
    urlpatterns.append(path("inference/", include("inference.urls")))

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import case_sets, imports, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("case-sets/", imports.case_sets, name="case_sets"),
    path("case-sets/import/", imports.case_set_import, name="case_set_import"),
    path("case-sets/template.<str:fmt>", case_sets.case_set_template, name="case_set_template"),
    path("case-sets/<int:pk>/", case_sets.case_set_detail, name="case_set_detail"),
    path("case-sets/<int:pk>/images/<int:image_id>/", case_sets.case_set_image, name="case_set_image"),
    path("", include("readerstudy.views.analysis_urls")),
    path("", include("readerstudy.views.coordinator_urls")),
    path("", include("readerstudy.views.reader_urls")),
    path("", include("readerstudy.views.interchange_urls")),
]

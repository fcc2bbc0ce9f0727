from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from readerstudy.language import set_language
from readerstudy.views.health import healthz

handler500 = "readerstudy.views.errors.server_error"


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico whatever the page says; send them to the hashed static icon."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("readerstudy/favicon.svg")  # at request time: the manifest exists by then


# Password reset by e-mail (templates/registration/): the answer never says whether an address is known.
password_reset = [
    path("accounts/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("admin/", admin.site.urls),
    # A study's AI pages (precompute, model evaluation) keep their /inference/ addresses.
    path("inference/", include("readerstudy.views.study_ai_urls")),
    path("api/v1/", include("readerstudy.api.urls")),
    *password_reset,
    # Languages: the switcher's POST target, and the JavaScript catalogue (gettext in static JS).
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", include("readerstudy.views.urls")),
]
# MEDIA_ROOT is never served publicly, not even with DEBUG: case images go through the
# access-checked reader image view.

"""The reader's language: the switcher's choice is remembered in the language cookie and the session
(and on the reader's memberships when they carry a `language` field), so it survives a new login
and a new browser session on the same device.

`LocaleMiddleware` reads the cookie; :class:`SessionLanguageMiddleware` (before it) puts the
session's language back into the request when the cookie is gone (e.g. a logged-in reader whose
browser dropped cookies except the session one).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import check_for_language
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from readerstudy.middleware import DATABASE_FAULTS, database_fault_response

SESSION_KEY = "readerstudy_language"


def _remember_on_memberships(request: HttpRequest, language: str) -> None:
    """Store the choice on the user's memberships when the model has a `language` field (additive)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    from readerstudy.models import Membership

    if "language" not in {field.name for field in Membership._meta.get_fields()}:
        return
    Membership.objects.filter(user=user).update(language=language)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie, safe `next` redirect), plus the session and the memberships."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if language and check_for_language(language) and language in dict(settings.LANGUAGES):
        if hasattr(request, "session"):
            request.session[SESSION_KEY] = language
        _remember_on_memberships(request, language)
    return response


class SessionLanguageMiddleware:
    """Before LocaleMiddleware: no language cookie but a language in the session → use the session's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookie = settings.LANGUAGE_COOKIE_NAME
        restored = None
        if cookie not in request.COOKIES and hasattr(request, "session"):
            try:
                restored = request.session.get(SESSION_KEY)
            except DATABASE_FAULTS as exc:  # raised here, before any view: answer as the views do
                return database_fault_response(request, exc)
            if restored in dict(settings.LANGUAGES):
                request.COOKIES[cookie] = restored
            else:
                restored = None
        response = self.get_response(request)
        if restored:
            response.set_cookie(cookie, restored, max_age=settings.LANGUAGE_COOKIE_AGE,
                                samesite=settings.LANGUAGE_COOKIE_SAMESITE, path=settings.LANGUAGE_COOKIE_PATH)
        return response


TIMEZONE_COOKIE = "readerstudy_tz"  # set by reader.js from Intl.DateTimeFormat().resolvedOptions()


class TimezoneMiddleware:
    """Render dates and times in the reader's time zone when the browser told us one (an IANA name);
    otherwise the server's TIME_ZONE (UTC). A name zoneinfo does not know is ignored."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from django.utils import timezone

        name = request.COOKIES.get(TIMEZONE_COOKIE, "")
        zone = None
        if name and len(name) <= 64:
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

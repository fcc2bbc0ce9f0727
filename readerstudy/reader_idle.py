"""Readers are signed out after READER_IDLE_TIMEOUT_S without a request (default 30 minutes).

Clinic workstations are shared: a reader who walks away must not leave their study open to the next
person. A session becomes a reader session the first time it opens a reader page; the last-seen
time is written at most once a minute, so reading a case costs no extra session writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from readerstudy.middleware import DATABASE_FAULTS, database_fault_response

READER_SESSION = "reader_last_seen"
WRITE_EVERY_S = 60


def mark_reader_session(request: HttpRequest) -> None:
    """Called by the reader pages: from now on this session times out when idle."""
    if READER_SESSION not in request.session:
        request.session[READER_SESSION] = int(time.time())


class ReaderIdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        try:  # the first session read happens here, before any view: a dropped connection is a 503
            last = session.get(READER_SESSION) if session is not None else None
            signed_in = last is not None and request.user.is_authenticated
        except DATABASE_FAULTS as exc:
            return database_fault_response(request, exc)
        if signed_in:
            now = int(time.time())
            if now - last > getattr(settings, "READER_IDLE_TIMEOUT_S", 1800):
                logout(request)
                if request.path.startswith("/api/"):
                    return JsonResponse({"error": {"code": "session_expired", "message":
                                                   "Signed out after a time without activity; sign in again.",
                                                   "details": {}}}, status=401)
                return redirect(f"{reverse('login')}?next={request.path}")
            if now - last > WRITE_EVERY_S:
                session[READER_SESSION] = now
        return self.get_response(request)


@receiver(user_logged_in)
def _mark_readers_at_login(sender, request, user, **kwargs) -> None:
    """A reader's session is marked when they sign in (one query then, none while reading)."""
    from readerstudy.models import Membership, Role

    if request is not None and hasattr(request, "session") and \
            Membership.objects.filter(user=user, role=Role.READER).exists():
        mark_reader_session(request)

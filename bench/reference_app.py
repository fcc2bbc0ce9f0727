"""The deployed application plus reference views for ``bench/web.py``; used only by the benchmark.

gunicorn serves ``bench.reference_app:application`` with the production settings; the only
difference from ``readerstudy.wsgi`` is the URLconf, which adds, before the app's own URLs:

- ``/bench/authenticated``: a logged-in request that does nothing else (session and user loaded by
  the middleware, as on every reader page), answered "ok";
- ``/bench/membership/<slug>``: the same plus the reader access check every reader page starts with
  (``readerstudy.permissions.reader_membership``).

With ``/healthz`` (no session, no database) they show what the case page costs beyond what any
page for a logged-in reader of a study must pay.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
application = get_wsgi_application()  # django.setup() before the imports below

from django.conf import settings  # noqa: E402
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.cache import never_cache  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402

from readerstudy.permissions import reader_membership  # noqa: E402


@never_cache
@require_GET
@login_required
def authenticated(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
@login_required
def membership(request: HttpRequest, slug: str) -> HttpResponse:
    reader_membership(request.user, slug)
    return HttpResponse("ok", content_type="text/plain")


handler500 = "readerstudy.views.errors.server_error"
urlpatterns = [
    path("bench/authenticated", authenticated),
    path("bench/membership/<slug:slug>", membership),
    path("", include("readerstudy.urls")),
]

settings.ROOT_URLCONF = __name__  # resolved on the first request

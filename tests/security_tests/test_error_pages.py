"""With DEBUG off (production and `make demo`) errors show the project's own pages; /api/v1/ is an index."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path

import readerstudy.urls as project_urls

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("unexpected")


urlpatterns = [path("boom/", boom), *project_urls.urlpatterns]
handler500 = project_urls.handler500


def test_unexpected_error_shows_the_projects_500_page(settings):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"Traceback" not in response.content


def test_unknown_page_shows_the_projects_404_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b"URLconf" not in response.content


def test_favicon_ico_points_at_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response.url.endswith("readerstudy/favicon.svg")


def test_api_root_is_an_index_with_schema_and_docs(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"] == "http://testserver/api/v1/schema/"
    assert body["docs"] == "http://testserver/api/v1/docs/" and body["redoc"].endswith("/api/v1/docs/redoc/")
    assert body["endpoints"]["studies"] == "http://testserver/api/v1/studies/"
    assert client.get(body["schema"]).status_code in (200, 401, 403)
    assert client.get("/api/v1/nothing-here/").json()["error"]["code"]  # unknown paths stay JSON 404s

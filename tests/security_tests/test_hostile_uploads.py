"""Hostile uploads and requests get a clear 4xx naming the problem, never a 500 (issue 18, Low).

CRC-corrupt, encrypted and unsupported-compression zip members; a CSV field over the csv
module's limit; NUL bytes in manifest text (PostgreSQL cannot store them); deeply nested JSON in a
case import, a readings import mapping and a reading; ``GET /join/%00/``. And every API error,
including the unexpected ones, has the documented ``{"error": {"code", "message", "details"}}`` body.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from catalog.models import Case, CaseSet
from tests.api_tests.conftest import png_bytes
from tests.factories import UserFactory, small_taxonomy

pytestmark = pytest.mark.django_db

HEADER = "case_id,clinical_image,reference_code,reference_source,history\n"


def manifest(history: str = "Itchy.") -> bytes:
    return (HEADER + f'A,a.png,MEL,histopathology,"{history}"\n').encode()


def good_zip(name: str = "a.png", compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr(name, png_bytes())
    return buffer.getvalue()


def corrupt_crc() -> bytes:
    data = bytearray(good_zip())
    start = 30 + len("a.png")  # local header, then the stored data
    data[start + 40] ^= 0xFF
    return bytes(data)


def patched_header(offset_in_local: int, offset_in_central: int, value: int) -> bytes:
    """The zip with a 2-byte field set in both the local and the central header."""
    data = bytearray(good_zip())
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<H", data, offset_in_local, value)
    struct.pack_into("<H", data, central + offset_in_central, value)
    return bytes(data)


def encrypted() -> bytes:
    return patched_header(6, 8, 0x1)  # general purpose flag bit 0: encrypted


def unsupported_method() -> bytes:
    return patched_header(8, 10, 97)  # compression method 97: not one zipfile reads


UPLOADS = {
    "crc-corrupt member": (manifest(), corrupt_crc(), "zip entry is corrupt"),
    "encrypted member": (manifest(), encrypted(), "encrypted"),
    "unsupported compression": (manifest(), unsupported_method(), "compression"),
    "csv field over the limit": (manifest("x" * 200_000), good_zip(), "manifest"),
    "nul byte in manifest text": (manifest("bad\x00text"), good_zip(), "history"),
    "nul byte in json manifest": (json.dumps([{"case_id": "A", "images": [{"file": "a.png"}],
                                               "reference": {"code": "MEL", "source": "histopathology"},
                                               "history": "bad\u0000"}]).encode(), good_zip(), "history"),
    "deeply nested json manifest": (b"[" * 100_000 + b"]" * 100_000, good_zip(), "manifest"),
}


@pytest.fixture
def importer():
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_caseset"))
    return user


@pytest.mark.parametrize("case", list(UPLOADS))
def test_api_import_refuses_with_a_4xx_naming_the_problem(importer, case):
    manifest_bytes, images, where = UPLOADS[case]
    suffix = ".json" if case.endswith("json manifest") else ".csv"
    api = APIClient()
    api.force_authenticate(importer)
    response = api.post("/api/v1/case-sets/import/", {
        "name": f"Hostile {case}", "taxonomy": small_taxonomy().pk,
        "manifest": _named(manifest_bytes, "manifest" + suffix), "images": _named(images, "images.zip"),
    }, format="multipart")
    assert response.status_code == 400, (case, response.status_code, response.content[:400])
    error = response.json()["error"]
    assert error["code"] == "import_failed"
    assert any(where in (p["field"] or "") or where in p["message"] for p in error["details"]["problems"]), error
    assert not CaseSet.objects.filter(name=f"Hostile {case}").exists() and not Case.objects.exists()


def test_page_import_shows_the_problem(importer, client):
    client.force_login(importer)
    response = client.post(reverse("case_set_import"), {
        "name": "Hostile page", "taxonomy": small_taxonomy().pk,
        "manifest": _named(manifest(), "manifest.csv"), "images": _named(corrupt_crc(), "images.zip"),
    })
    assert response.status_code in (200, 400, 422)
    assert "a.png" in response.content.decode() and not CaseSet.objects.filter(name="Hostile page").exists()


def _named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_readings_import_with_a_huge_field_or_nested_mapping_is_a_4xx(importer):
    api = APIClient()
    api.force_authenticate(importer)
    huge = ("reader,case,arm,correct_top1\n" + "R1," + "x" * 200_000 + ",ai,1\n").encode()
    response = api.post("/api/v1/interchange/readings-import/", {"file": _named(huge, "r.csv")}, format="multipart")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert not response.json()["ok"]
    nested = "[" * 100_000 + "]" * 100_000
    response = api.post("/api/v1/interchange/readings-import/",
                        {"file": _named(b"reader,case,arm\nR,C,A\n", "r.csv"), "mapping": nested}, format="multipart")
    assert response.status_code == 400 and "error" in response.json()


def test_a_deeply_nested_json_reading_is_a_400():
    api = APIClient()
    api.force_authenticate(UserFactory())
    body = b'{"item": 1, "differential": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = api.post("/api/v1/studies/anything/readings/", body, content_type="application/json")
    assert response.status_code in (400, 404)
    assert set(response.json()["error"]) == {"code", "message", "details"}
    response = api.post("/api/v1/studies/", body, content_type="application/json")
    assert response.status_code in (400, 403) and set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("path", ["/join/%00/", "/join/a%00b/", "/join/%C0%AF/"])
def test_join_with_a_nul_or_odd_token_is_404(client, path, django_assert_max_num_queries):
    with django_assert_max_num_queries(0):  # refused before the database (PostgreSQL rejects NUL: a 500)
        response = client.get(path)
    assert response.status_code == 404


def test_every_api_error_has_the_documented_shape(monkeypatch):
    """Also an unexpected exception: a JSON 500 in the same shape, never an HTML page."""
    from readerstudy.api.views import misc

    def boom(self, request):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(misc.MeView, "get", boom)
    api = APIClient(raise_request_exception=False)
    api.force_authenticate(UserFactory())
    response = api.get("/api/v1/me/")
    assert response.status_code == 500 and response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": {"code": "server_error", "message": "Something went wrong on our side.",
                                         "details": None}}
    for method, path, status in [("get", "/api/v1/nowhere/", 404), ("delete", "/api/v1/me/", 405),
                                 ("post", "/api/v1/studies/", 415)]:
        kwargs = {"data": "x", "content_type": "text/weird"} if status == 415 else {}
        response = getattr(api, method)(path, **kwargs)
        assert response.status_code in (status, 403), (path, response.status_code)
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_an_oversized_or_malformed_body_is_a_400_in_the_error_shape(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    coordinator = UserFactory()
    coordinator.user_permissions.add(Permission.objects.get(codename="add_study"))
    api = APIClient()
    api.force_authenticate(coordinator)
    for body in (b'{"title": "' + b"x" * 5000 + b'"}', b"{not json"):
        response = api.post("/api/v1/studies/", body, content_type="application/json")
        assert response.status_code == 400, (body[:20], response.status_code)
        assert set(response.json()["error"]) == {"code", "message", "details"}

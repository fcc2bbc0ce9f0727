"""Every endpoint against the permission matrix, as one table.

Columns: anonymous, reader of another study, reader of this study, statistician, coordinator.
Study-scoped endpoints answer 404 to anyone without the role (the access layer never reveals a
study); endpoints that are not about one study answer 403 to those who may not act.
"""

from __future__ import annotations

import pytest

ROLES = ("anonymous", "other", "reader", "statistician", "coordinator")
S = "/api/v1/studies/{slug}/"

# (method, path, body, expected status per role in ROLES order)
MATRIX = [
    ("get", "/api/v1/me/", None, (401, 200, 200, 200, 200)),
    ("get", "/api/v1/taxonomies/", None, (401, 200, 200, 200, 200)),
    ("get", "/api/v1/taxonomies/{taxonomy}/", None, (401, 200, 200, 200, 200)),
    ("get", "/api/v1/case-sets/", None, (401, 200, 200, 200, 200)),
    ("get", "/api/v1/case-sets/{case_set}/", None, (401, 404, 404, 200, 200)),
    ("get", "/api/v1/case-sets/{case_set}/cases/", None, (401, 404, 404, 200, 200)),
    ("post", "/api/v1/case-sets/import/", {}, (401, 403, 403, 403, 400)),
    ("get", "/api/v1/model-versions/", None, (401, 200, 200, 200, 200)),
    ("get", "/api/v1/model-versions/{model}/", None, (401, 404, 404, 200, 200)),
    ("get", "/api/v1/studies/", None, (401, 200, 200, 200, 200)),
    ("post", "/api/v1/studies/", {}, (401, 403, 403, 403, 400)),
    ("get", S, None, (401, 404, 200, 200, 200)),
    ("patch", S, {"title": "Renamed"}, (401, 404, 404, 404, 200)),
    ("post", S + "launch/", None, (401, 404, 404, 404, 409)),
    ("post", S + "pause/", None, (401, 404, 404, 404, 200)),
    ("post", S + "resume/", None, (401, 404, 404, 404, 409)),
    ("post", S + "close/", None, (401, 404, 404, 404, 200)),
    ("get", S + "progress/", None, (401, 404, 404, 200, 200)),
    ("get", S + "invitations/", None, (401, 404, 404, 404, 200)),
    ("post", S + "invitations/", {}, (401, 404, 404, 404, 201)),
    ("get", S + "schedule/", None, (401, 404, 200, 404, 404)),
    ("get", S + "schedule/next/", None, (401, 404, 200, 404, 404)),
    ("get", S + "images/{image}/", None, (401, 404, 200, 404, 404)),
    ("get", S + "readings/", None, (401, 404, 404, 200, 200)),
    ("post", S + "readings/", {}, (401, 404, 400, 404, 404)),
    ("get", S + "model-outputs/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/readings.csv/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/readings.parquet/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/schedules.csv/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/cases.csv/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/model-outputs.csv/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/imrmc/", None, (401, 404, 404, 200, 200)),
    ("get", S + "exports/rjafroc.csv/", None, (401, 404, 404, 200, 200)),
    ("get", S + "analysis-runs/", None, (401, 404, 404, 200, 200)),
    ("post", S + "analysis-runs/", {}, (401, 404, 404, 202, 202)),
    ("get", S + "analysis-runs/{run}/", None, (401, 404, 404, 200, 200)),
    ("get", S + "analysis-runs/{run}/results/", None, (401, 404, 404, 200, 200)),
    ("get", S + "analysis-runs/{run}/report/", None, (401, 404, 404, 409, 409)),
    ("post", "/api/v1/interchange/readings-import/", {}, (401, 403, 403, 400, 400)),
]


def _cases():
    for method, path, body, expected in MATRIX:
        for role, status in zip(ROLES, expected, strict=True):
            yield pytest.param(method, path, body, role, status, id=f"{method.upper()} {path} as {role}")


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), list(_cases()))
def test_permission_matrix(world, method, path, body, role, expected):
    url = path.format(slug=world.study.slug, taxonomy=world.study.case_set.taxonomy_id,
                      case_set=world.study.case_set_id, model=world.study.model_version_id, image=world.image.pk,
                      run=world.run.pk)
    fmt = "multipart" if path.endswith("import/") else "json"  # uploads are multipart
    response = getattr(world.client(role), method)(url, body, format=fmt if body is not None else None)
    assert response.status_code == expected, response.content[:300]
    if expected >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"} and error["code"] and error["message"]


def test_lists_hold_only_what_the_user_may_see(world):
    for role, n_case_sets, n_models, n_studies in (("reader", 0, 0, 1), ("other", 0, 0, 1),
                                                  ("statistician", 1, 1, 1), ("coordinator", 1, 1, 1)):
        client = world.client(role)
        assert len(client.get("/api/v1/case-sets/").json()["results"]) == n_case_sets, role
        assert len(client.get("/api/v1/model-versions/").json()["results"]) == n_models, role
        slugs = [s["slug"] for s in client.get("/api/v1/studies/").json()["results"]]
        assert len(slugs) == n_studies and (world.study.slug in slugs) == (role != "other"), role


def test_unknown_api_path_is_a_json_404(world):
    response = world.client("anonymous").get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_anonymous_gets_a_token_challenge(world):
    response = world.client("anonymous").get("/api/v1/studies/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"

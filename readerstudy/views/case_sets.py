"""A case set opened by its coordinator: cases, thumbnails, reference labels and metadata, filterable.

Plus the manifest templates (CSV and a JSON example) the import page offers. Reference labels are
what readers must not see, so only a coordinator of the set (its importer, a coordinator of a study
on it, or site staff) reaches these pages: anyone else gets 404.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog.models import Case, CaseImage, ReferenceSource, Sex, Taxonomy
from catalog.services.case_import import import_reference, manifest_template
from readerstudy.http import attachment
from readerstudy.permissions import case_set_for_coordinator, may_import_cases
from readerstudy.views.files import case_image_response

CASES_PER_PAGE = 50
FILTERS = ("q", "reference", "source", "sex", "fitzpatrick", "site")


@login_required
@require_GET
def case_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case_set = case_set_for_coordinator(request.user, pk)
    chosen = {name: request.GET.get(name, "").strip() for name in FILTERS}
    cases = _filtered(Case.objects.filter(case_set=case_set), chosen)
    cases = cases.select_related("reference", "reference_management").prefetch_related(
        Prefetch("images", queryset=CaseImage.objects.order_by("order").only("pk", "case_id", "role", "order"))
    )
    page = Paginator(cases.order_by("key"), CASES_PER_PAGE).get_page(request.GET.get("page"))
    all_cases = Case.objects.filter(case_set=case_set)
    references = (all_cases.values("reference__code", "reference__name").annotate(n=Count("pk"))
                  .order_by("reference__name"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "imports/case_set_detail.html", {
        "case_set": case_set,
        "page": page,
        "n_cases": all_cases.count(),
        "n_images": CaseImage.objects.filter(case__case_set=case_set).count(),
        "n_matching": page.paginator.count,
        "references": references,
        "sources": ReferenceSource.choices,
        "sexes": Sex.choices,
        "fitzpatricks": range(1, 7),
        "chosen": chosen,
        "filtered": any(chosen.values()),
        "query": query.urlencode(),
        "studies": case_set.studies.order_by("title").only("slug", "title"),
    })


def _filtered(cases, chosen: dict[str, str]):
    if chosen["q"]:
        cases = cases.filter(Q(key__icontains=chosen["q"]) | Q(history__icontains=chosen["q"]))
    if chosen["reference"]:
        cases = cases.filter(reference__code=chosen["reference"])
    if chosen["source"]:
        cases = cases.filter(reference_source=chosen["source"])
    if chosen["sex"]:
        cases = cases.filter(sex=chosen["sex"])
    if chosen["fitzpatrick"].isdigit():
        cases = cases.filter(fitzpatrick=int(chosen["fitzpatrick"]))
    if chosen["site"]:
        cases = cases.filter(body_site__icontains=chosen["site"])
    return cases


@login_required
@require_GET
def case_set_image(request: HttpRequest, pk: int, image_id: int) -> HttpResponse:
    """A thumbnail (or ?size=full the image) of a case in a set the user coordinates."""
    case_set = case_set_for_coordinator(request.user, pk)
    picture = (CaseImage.objects.filter(pk=image_id, case__case_set=case_set)
               .only("case_id", "file", "thumbnail", "sha256").first())
    if picture is None:
        raise Http404("No such image")
    return case_image_response(request, picture, full=request.GET.get("size") == "full")


@login_required
@require_GET
def case_set_template(request: HttpRequest, fmt: str) -> HttpResponse:
    """A manifest template with two example cases and the taxonomy's real codes (``?taxonomy=<id>``)."""
    if fmt not in ("csv", "json") or not may_import_cases(request.user):
        raise Http404("Unknown format")
    taxonomy_id = request.GET.get("taxonomy", "")
    taxonomy = Taxonomy.objects.filter(pk=int(taxonomy_id)).first() if taxonomy_id.isdigit() else None
    content = manifest_template(import_reference(taxonomy), fmt)
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return attachment(content, f"manifest-template.{fmt}", content_type)

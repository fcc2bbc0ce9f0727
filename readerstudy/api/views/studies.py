"""Studies: create and configure (coordinators), lifecycle operations, readers' progress, invitations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from readerstudy.api.errors import study_refused
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import ANY_MEMBER, COORDINATOR_ONLY, STAFF
from readerstudy.api.serializers import (
    InvitationCreateSerializer,
    InvitationSerializer,
    ReaderStudySerializer,
    StudyForUserSerializer,
    StudyProgressSerializer,
    StudySerializer,
    StudyWriteSerializer,
)
from readerstudy.api.views.base import ApiView, StudyView, errors, paginate
from readerstudy.models import Study
from readerstudy.permissions import (
    case_sets_for_user,
    may_create_studies,
    model_versions_for_user,
    reader_study_ids,
    studies_for_user,
)
from readerstudy.selectors.members import study_invitations
from readerstudy.selectors.progress import study_progress
from readerstudy.services import studies as study_services
from readerstudy.services.studies import ArmSpec, StudyError

TAG = ["studies"]


def _arm_specs(raw: list[dict[str, Any]] | None) -> list[ArmSpec] | None:
    if raw is None:
        return None
    return [ArmSpec(name=a["name"], label=a["label"], kind=a["kind"], assist=dict(a.get("assist") or {})) for a in raw]


def _write_serializer(request, **kwargs) -> StudyWriteSerializer:
    return StudyWriteSerializer(data=request.data, case_sets=case_sets_for_user(request.user),
                                model_versions=model_versions_for_user(request.user), **kwargs)


def _study_body(study: Study, user=None) -> dict[str, Any]:
    fresh = Study.objects.prefetch_related("arms").get(pk=study.pk)
    if user is not None and fresh.pk in reader_study_ids(user):  # readers: no design, arms or settings
        return ReaderStudySerializer(fresh).data
    return StudySerializer(fresh).data


class StudyListView(ApiView):
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_list", responses={200: StudySerializer(many=True), **errors()}, tags=TAG)
    def get(self, request):
        queryset = studies_for_user(request.user).prefetch_related("arms")
        return paginate(self, queryset, StudyForUserSerializer, ordering="-pk",
                        context={"reader_study_ids": reader_study_ids(request.user)})

    @extend_schema(operation_id="studies_create", request=StudyWriteSerializer,
                   responses={201: StudySerializer, **errors(400, 403)}, tags=TAG)
    def post(self, request):
        if not may_create_studies(request.user):
            raise PermissionDenied("Creating studies is for coordinators.")
        form = _write_serializer(request)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        arms = _arm_specs(data.pop("arms", None))
        try:
            study = study_services.study_create(actor=request.user, arms=arms, **data)
        except StudyError as exc:
            raise study_refused(exc, status_code=status.HTTP_400_BAD_REQUEST) from exc
        return Response(_study_body(study), status=status.HTTP_201_CREATED)


class StudyDetailView(StudyView):
    access = {"GET": ANY_MEMBER, "PATCH": COORDINATOR_ONLY}

    @extend_schema(operation_id="studies_retrieve", responses={200: StudySerializer, **errors()}, tags=TAG)
    def get(self, request, slug: str):
        return Response(_study_body(self.study, request.user))

    @extend_schema(operation_id="studies_partial_update", request=StudyWriteSerializer,
                   responses={200: StudySerializer, **errors(400, 409)}, tags=TAG)
    def patch(self, request, slug: str):
        form = _write_serializer(request, partial=True)
        form.is_valid(raise_exception=True)
        changes = dict(form.validated_data)
        arms = _arm_specs(changes.pop("arms", None))
        study = study_services.study_update(study=self.study, actor=request.user, changes=changes, arms=arms)
        return Response(_study_body(study))


class _StudyTransitionView(StudyView):
    """POST with no body: one lifecycle operation, refused (409) when the state does not allow it."""

    access = {"POST": COORDINATOR_ONLY}


def _transition(name: str, service, doc: str) -> type[_StudyTransitionView]:
    @extend_schema(operation_id=f"studies_{name}", request=None, responses={200: StudySerializer, **errors(409)},
                   tags=TAG)
    def post(self, request, slug: str):
        return Response(_study_body(service(study=self.study, actor=request.user)))

    return type(f"Study{name.title()}View", (_StudyTransitionView,), {"post": post, "__doc__": doc})


StudyLaunchView = _transition("launch", study_services.study_launch,
                              "Launch a draft: validate, generate every reader's schedule, open to readers.")
StudyPauseView = _transition("pause", study_services.study_pause, "Pause a launched study.")
StudyResumeView = _transition("resume", study_services.study_resume, "Resume a paused study.")
StudyCloseView = _transition("close", study_services.study_close, "Close a launched or paused study.")


class StudyProgressView(StudyView):
    """Progress per reader (pseudonyms only) and totals."""

    access = {"GET": STAFF}

    @extend_schema(operation_id="studies_progress", responses={200: StudyProgressSerializer, **errors()}, tags=TAG)
    def get(self, request, slug: str):
        progress = study_progress(self.study)
        readers = [{**vars(r), "percent": r.percent} for r in progress.readers]
        return Response(StudyProgressSerializer(
            {"status": self.study.status, "totals": progress.totals, "readers": readers}).data)


class InvitationListView(StudyView):
    access = {"GET": COORDINATOR_ONLY, "POST": COORDINATOR_ONLY}
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_invitations_list", responses={200: InvitationSerializer(many=True),
                                                                         **errors()}, tags=TAG)
    def get(self, request, slug: str):
        return paginate(self, study_invitations(self.study), InvitationSerializer, ordering="-pk")

    @extend_schema(operation_id="studies_invitations_create", request=InvitationCreateSerializer,
                   responses={201: InvitationSerializer, **errors(400)}, tags=TAG)
    def post(self, request, slug: str):
        form = InvitationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            invitation = study_services.invitation_create(study=self.study, actor=request.user, **form.validated_data)
        except StudyError as exc:
            raise study_refused(exc, status_code=status.HTTP_400_BAD_REQUEST) from exc
        return Response(InvitationSerializer(invitation, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

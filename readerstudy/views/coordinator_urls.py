"""Coordinator and statistician pages (study setup, launch, monitoring, exports)."""

from django.urls import path

from . import coordinator

app_name = "studies"

urlpatterns = [
    path("studies/new/", coordinator.study_create, name="create"),
    path("studies/<slug:slug>/", coordinator.study_detail, name="detail"),
    path("studies/<slug:slug>/edit/", coordinator.study_edit, name="edit"),
    path("studies/<slug:slug>/launch/", coordinator.study_launch, name="launch"),
    path("studies/<slug:slug>/pause/", coordinator.study_pause, name="pause"),
    path("studies/<slug:slug>/resume/", coordinator.study_resume, name="resume"),
    path("studies/<slug:slug>/close/", coordinator.study_close, name="close"),
    path("studies/<slug:slug>/invitations/", coordinator.invitations, name="invitations"),
    path(
        "studies/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        coordinator.invitation_revoke,
        name="invitation_revoke",
    ),
    path("studies/<slug:slug>/members/<str:pseudonym>/", coordinator.member_detail, name="member"),
    path("studies/<slug:slug>/progress/", coordinator.progress, name="progress"),
    path("studies/<slug:slug>/export/readings/", coordinator.export_readings, name="export_readings"),
    path("studies/<slug:slug>/export/schedules/", coordinator.export_schedules, name="export_schedules"),
    path("studies/<slug:slug>/export/cases/", coordinator.export_case_progress, name="export_case_progress"),
]

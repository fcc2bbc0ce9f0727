"""/api/v1/: the REST API, its OpenAPI 3 schema (schema/) and browsable docs (docs/, docs/redoc/)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from readerstudy.api.views import analysis, catalog, exports, misc, reader, readings, studies

app_name = "api"

study = "studies/<slug:slug>/"

urlpatterns = [
    path("", misc.ApiIndexView.as_view(), name="index"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: the CSP allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("docs/redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("me/", misc.MeView.as_view(), name="me"),
    path("taxonomies/", catalog.TaxonomyListView.as_view(), name="taxonomy-list"),
    path("taxonomies/<int:pk>/", catalog.TaxonomyDetailView.as_view(), name="taxonomy-detail"),
    path("case-sets/", catalog.CaseSetListView.as_view(), name="case-set-list"),
    path("case-sets/import/", catalog.CaseSetImportView.as_view(), name="case-set-import"),
    path("case-sets/<int:pk>/", catalog.CaseSetDetailView.as_view(), name="case-set-detail"),
    path("case-sets/<int:pk>/cases/", catalog.CaseListView.as_view(), name="case-list"),
    path("model-versions/", catalog.ModelVersionListView.as_view(), name="model-version-list"),
    path("model-versions/<int:pk>/", catalog.ModelVersionDetailView.as_view(), name="model-version-detail"),
    path("studies/", studies.StudyListView.as_view(), name="study-list"),
    path(study, studies.StudyDetailView.as_view(), name="study-detail"),
    path(study + "launch/", studies.StudyLaunchView.as_view(), name="study-launch"),
    path(study + "pause/", studies.StudyPauseView.as_view(), name="study-pause"),
    path(study + "resume/", studies.StudyResumeView.as_view(), name="study-resume"),
    path(study + "close/", studies.StudyCloseView.as_view(), name="study-close"),
    path(study + "progress/", studies.StudyProgressView.as_view(), name="study-progress"),
    path(study + "invitations/", studies.InvitationListView.as_view(), name="study-invitations"),
    path(study + "schedule/", reader.ScheduleView.as_view(), name="reader-schedule"),
    path(study + "schedule/next/", reader.NextItemView.as_view(), name="reader-next"),
    path(study + "images/<int:image_id>/", reader.ReaderImageView.as_view(), name="reader-image"),
    path(study + "library/<int:image_id>/", reader.ReaderLibraryImageView.as_view(), name="reader-library-image"),
    path(study + "readings/", readings.ReadingListView.as_view(), name="study-readings"),
    path(study + "model-outputs/", exports.ModelOutputListView.as_view(), name="study-model-outputs"),
    path(study + "exports/<str:name>/", exports.ExportView.as_view(), name="study-export"),
    path(study + "analysis-runs/", analysis.AnalysisRunListView.as_view(), name="analysis-run-list"),
    path(study + "analysis-runs/<int:run_id>/", analysis.AnalysisRunDetailView.as_view(), name="analysis-run-detail"),
    path(study + "analysis-runs/<int:run_id>/results/", analysis.AnalysisRunResultsView.as_view(),
         name="analysis-run-results"),
    path(study + "analysis-runs/<int:run_id>/report/", analysis.AnalysisRunReportView.as_view(),
         name="analysis-run-report"),
    path("interchange/readings-import/", misc.ReadingsImportView.as_view(), name="readings-import"),
    re_path(r"^.*$", misc.ApiNotFoundView.as_view(), name="not-found"),
]

"""A study's AI pages, under /inference/ (their addresses predate the move into readerstudy)."""

from django.urls import path

from . import study_ai as views

app_name = "study_ai"

urlpatterns = [
    path("studies/<slug:slug>/precompute/", views.precompute_page, name="precompute"),
    path("studies/<slug:slug>/precompute/progress/", views.precompute_progress, name="precompute_progress"),
    path("studies/<slug:slug>/model-evaluation/", views.evaluation_page, name="evaluation"),
    path("studies/<slug:slug>/model-evaluation/run/", views.evaluation_start, name="evaluation_start"),
]

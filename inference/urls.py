from django.urls import path

from . import views

app_name = "inference"

urlpatterns = [
    path("studies/<slug:slug>/precompute/", views.precompute_page, name="precompute"),
    path("studies/<slug:slug>/precompute/progress/", views.precompute_progress, name="precompute_progress"),
    path("studies/<slug:slug>/model-evaluation/", views.evaluation_page, name="evaluation"),
    path("studies/<slug:slug>/model-evaluation/run/", views.evaluation_start, name="evaluation_start"),
]

from django.urls import path

from . import analysis, analysis_power

app_name = "analysis"
urlpatterns = [
    path("studies/<slug:slug>/analysis/", analysis.analysis_list, name="list"),
    path("studies/<slug:slug>/analysis/<int:run_id>/", analysis.analysis_detail, name="detail"),
    path("studies/<slug:slug>/analysis/<int:run_id>/report/", analysis.analysis_report, name="report"),
    path("studies/<slug:slug>/analysis/<int:run_id>/results.json", analysis.analysis_results_json, name="results"),
    path("studies/<slug:slug>/analysis/power/", analysis_power.analysis_power, name="power"),
    path("studies/<slug:slug>/analysis/<int:run_id>/power.json", analysis_power.analysis_power_json, name="power_json"),
]

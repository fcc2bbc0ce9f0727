"""Coordinator and statistician pages (study setup, launch, monitoring, exports, imports)."""

urlpatterns: list = []

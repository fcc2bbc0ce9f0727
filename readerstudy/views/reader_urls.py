"""Reader pages (invitation, consent, demographics, instructions, cases, end)."""

urlpatterns: list = []

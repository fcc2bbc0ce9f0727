"""Cursor pagination: stable under inserts (readings arrive while a study runs)."""

from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    ordering = "pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

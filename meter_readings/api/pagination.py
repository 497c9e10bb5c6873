"""Pagination: cursors for readings (page 10,000 costs what page 1 costs).

A page size that is not a whole number from 1 to the maximum is a 400, not silently
replaced by the default.
"""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request


class _StrictPageSize:
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)


class ReadingCursorPagination(_StrictPageSize, CursorPagination):
    page_size = 100
    max_page_size = 1000
    ordering = "-id"


class StandardPagination(_StrictPageSize, PageNumberPagination):
    page_size = 50
    max_page_size = 500

    def get_page_number(self, request: Request, paginator) -> str | int:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not raw.isdigit():
            # DRF reads an empty page as page 1; any other non-number is already a 404.
            raise NotFound("Invalid page.")
        return super().get_page_number(request, paginator)

"""Cursor pages over rows ordered newest first by a datetime (events, incidents, ...)."""

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class TimeCursorPagination(CursorPagination):
    """Subclasses set `ordering`, a datetime field first (e.g. ("-timestamp", "-id"))."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def decode_cursor(self, request):
        # A cursor is opaque but client-held: one that decodes to a position that
        # is not a datetime is as invalid as one that does not decode at all.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from apps.core.pagination import MAX_PAGE_SIZE, PAGE_SIZE, TimeCursorPagination
from apps.core.params import NonEmptyQuery, StrictIntegerField
from apps.ingest.api import IngestView
from apps.keys.models import Scope
from apps.keys.permissions import CanIngest, CanRead

from . import selectors
from .models import STANDARD_EVENT_TYPES
from .serializers import EventOut


class UserActivityIngestView(IngestView):
    kind = "user_activity"
    summary = "Log user activity (frontend)"


class EventQuery(NonEmptyQuery):
    event_type = serializers.CharField(required=False, max_length=100)
    user_id = serializers.CharField(required=False, max_length=255)
    family_unit_id = serializers.CharField(required=False, max_length=255)
    session_id = serializers.CharField(required=False, max_length=255)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")
    # Read by the paginator; declared here because DRF's pagination ignores a page_size
    # that is not a positive integer (and caps one that is too big) instead of refusing it.
    page_size = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        help_text=f"Events per page, 1-{MAX_PAGE_SIZE} (default {PAGE_SIZE}).",
    )
    cursor = serializers.CharField(
        required=False,
        help_text="From a previous page's `next` or `previous` link; one this endpoint did "
        "not hand out is a 404.",
    )

    def filters(self) -> dict:
        """The validated filters, for selectors.event_list."""
        return {k: v for k, v in self.validated_data.items() if k not in ("page_size", "cursor")}


class EventPagination(TimeCursorPagination):
    ordering = ("-timestamp", "-id")


STANDARD_TYPES_DOC = "Standard event types: " + "; ".join(
    f"{group}: {', '.join(types)}" for group, types in STANDARD_EVENT_TYPES.items()
)


class EventsView(IngestView):
    """POST events (ingest key); GET them back filtered and paginated (read key or staff)."""

    kind = "event"
    summary = "Emit product events (single or batch)"
    pagination_class = EventPagination

    @property
    def required_scope(self) -> str:
        return Scope.READ if self.request.method == "GET" else Scope.INGEST

    def get_permissions(self):
        return [CanRead()] if self.request.method == "GET" else [CanIngest()]

    @extend_schema(
        summary="List events by type, user, group and time range",
        description=STANDARD_TYPES_DOC,
        parameters=[EventQuery],
        responses={200: EventOut(many=True)},
        tags=["events"],
    )
    def get(self, request, *args, **kwargs):
        query = EventQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.event_list(**query.filters()), request)
        return paginator.get_paginated_response(EventOut(page, many=True).data)

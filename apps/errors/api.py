from datetime import timedelta

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import get_or_404, validated
from apps.core.pagination import TimeCursorPagination
from apps.core.params import hours_query, listed_params
from apps.core.windows import IntervalField, fill_field, too_many_buckets
from apps.ingest.api import IngestView
from apps.keys.permissions import CanAdminister, request_actor

from . import selectors, services
from . import serializers as out
from .models import ErrorCategory, Issue, Severity


class ErrorTrendsQuery(
    hours_query(
        category=serializers.ChoiceField(
            choices=ErrorCategory.choices, required=False, help_text="Only this category."
        ),
        severity=serializers.ChoiceField(
            choices=Severity.choices, required=False, help_text="Only this severity."
        ),
        interval=IntervalField(
            required=False,
            help_text="Also answer `series`: error counts in buckets of this width (the "
            "hourly series is always there). <n>m, <n>h, <n>d or <n>w, whole minutes up to "
            "7 days; buckets counted from Monday 2000-01-03 00:00 UTC, as metric time series.",
        ),
        fill=fill_field("zero", zero="count 0", null="count null"),
    )
):
    def validate(self, attrs: dict) -> dict:
        if "interval" in attrs:
            refused = too_many_buckets(timedelta(hours=attrs["hours"]), attrs["interval"])
            if refused:
                raise serializers.ValidationError({"interval": [refused]})
        return attrs


class ErrorIngestView(IngestView):
    kind = "error"
    summary = "Log errors (frontend or backend)"


class ErrorTrendsView(APIView):
    @extend_schema(
        summary="Error trend analysis",
        parameters=[ErrorTrendsQuery],
        responses={200: out.ErrorTrendsOut},
        tags=["metrics"],
    )
    def get(self, request):
        query = ErrorTrendsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(out.ErrorTrendsOut(selectors.error_trends(**query.validated_data)).data)


# --- issues: errors grouped by fingerprint, and their triage -------------------------

ISSUE_TAGS = ["issues"]


class IssuesView(APIView):
    """Read keys (and staff) read; changes take an admin key or a staff session with
    the permission to change issues."""

    permission_classes = [CanAdminister]
    change_permission = "errors.change_issue"


class IssuePagination(TimeCursorPagination):
    ordering = ("-last_seen", "-id")


class IssueEventPagination(TimeCursorPagination):
    ordering = ("-timestamp", "-id")


def _with_counts(issues: list[Issue]) -> list[Issue]:
    counts = selectors.issue_counts_since([i.fingerprint for i in issues], hours=24)
    for issue in issues:
        issue.count_24h = counts.get(issue.fingerprint, 0)
    return issues


class IssueListView(IssuesView):
    pagination_class = IssuePagination

    @extend_schema(
        summary="List error issues, the last seen first",
        parameters=[out.IssueQuery],
        responses={200: out.IssueOut(many=True)},
        tags=ISSUE_TAGS,
    )
    def get(self, request):
        # The filters' 400 comes before the cursor's (unknown) parameters are read.
        query = validated(
            out.IssueQuery,
            listed_params(
                request.query_params,
                lists=("status", "category", "severity"),
                singles=("release", "page_size", "cursor"),
            ),
        )
        query.pop("page_size", None), query.pop("cursor", None)  # the paginator reads them
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.issue_list(**query), request, view=self)
        return paginator.get_paginated_response(out.IssueOut(_with_counts(page), many=True).data)


class IssueDetailView(IssuesView):
    @extend_schema(
        summary="One issue: its timeline, its latest event, its events per hour, its releases",
        responses={200: out.IssueDetailOut},
        tags=ISSUE_TAGS,
    )
    def get(self, request, pk: int):
        issue = get_or_404(Issue.objects.all(), pk)
        _with_counts([issue])
        issue.timeline = selectors.issue_timeline(issue)
        issue.sample_event = selectors.issue_sample_event(issue.fingerprint)
        issue.hourly = selectors.issue_series(issue.fingerprint, hours=24)
        issue.releases, issue.releases_truncated = selectors.issue_releases(issue.fingerprint)
        return Response(out.IssueDetailOut(issue).data)


class IssueEventsView(IssuesView):
    pagination_class = IssueEventPagination

    @extend_schema(
        summary="An issue's events, newest first",
        parameters=[out.PageQuery],
        responses={200: out.IssueEventOut(many=True)},
        tags=ISSUE_TAGS,
    )
    def get(self, request, pk: int):
        validated(out.PageQuery, request.query_params)
        issue = get_or_404(Issue.objects.all(), pk)
        paginator = self.pagination_class()
        events = selectors.issue_events(issue.fingerprint)
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(out.IssueEventOut(page, many=True).data)


class IssueBulkView(IssuesView):
    @extend_schema(
        summary="Resolve, ignore or unresolve issues",
        description="A resolved issue stays resolved until a new event arrives: then it "
        "reopens as a regression. Resolving resolves its stored events; unresolving a "
        "resolved one reopens them. An ignored issue stays ignored whatever arrives.",
        request=out.IssueBulkIn,
        responses={200: out.IssueBulkOut},
        tags=ISSUE_TAGS,
    )
    def post(self, request):
        data = validated(out.IssueBulkIn, request.data)
        service = services.ISSUE_ACTIONS[data["action"]]
        changed = service(
            issues=selectors.issues_with_ids(data["ids"]),
            actor=request_actor(request),
            note=data["note"],
        )
        answer = {"action": data["action"], "requested": len(set(data["ids"])), "changed": changed}
        return Response(out.IssueBulkOut(answer).data)


issue_urls = [
    path("issues", IssueListView.as_view(), name="issues"),
    path("issues/bulk", IssueBulkView.as_view(), name="issues-bulk"),
    path("issues/<int:pk>", IssueDetailView.as_view(), name="issue"),
    path("issues/<int:pk>/events", IssueEventsView.as_view(), name="issue-events"),
]

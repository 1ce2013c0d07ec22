from datetime import timedelta

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from apps.core.admin import ReadOnlyAdmin, RecordAdmin

from . import selectors, services
from .models import ErrorLog, Issue


@admin.register(ErrorLog)
class ErrorLogAdmin(RecordAdmin):
    list_display = [
        "timestamp",
        "severity",
        "category",
        "short_message",
        "culprit",
        "resolved",
        "resolved_by",
    ]
    list_filter = ["resolved", "severity", "category"]
    search_fields = [
        "error_message",
        "error_code",
        "endpoint",
        "=user_id",
        "=device_id",
        "=event_id",
        "=fingerprint",
    ]
    actions = ["mark_resolved", "reopen"]

    @admin.display(description="message")
    def short_message(self, obj: ErrorLog) -> str:
        return obj.error_message[:120]

    @admin.action(description="Mark selected errors resolved", permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        n = services.errors_resolve(errors=queryset, resolved_by=request.user.get_username())
        self.message_user(request, f"{n} error(s) marked resolved.")

    @admin.action(description="Reopen selected errors", permissions=["resolve"])
    def reopen(self, request, queryset):
        n = services.errors_reopen(errors=queryset)
        self.message_user(request, f"{n} error(s) reopened.")

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("errors.change_errorlog")


class ReleaseFilter(admin.SimpleListFilter):
    """Issues seen in a release (any of theirs); offered: the 30 last seen."""

    title = "release"
    parameter_name = "release"

    def lookups(self, request, model_admin):
        return [(release, release) for release in selectors.releases_last_seen(30)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(selectors.seen_in_release(self.value()))
        return queryset


def _count_24h() -> Coalesce:
    """Events over the last 24 h, per row of the page (the errors' fingerprint index)."""
    since = timezone.now() - timedelta(hours=24)
    events = (
        ErrorLog.objects.filter(fingerprint=OuterRef("fingerprint"), timestamp__gte=since)
        .order_by()
        .values("fingerprint")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(events, output_field=IntegerField()), 0)


@admin.register(Issue)
class IssueAdmin(ReadOnlyAdmin):
    list_display = [
        "short_title",
        "status",
        "severity",
        "category",
        "count_24h",
        "event_count",
        "users_affected",
        "last_seen",
        "first_seen",
        "last_release",
    ]
    list_filter = ["status", "category", "severity", ReleaseFilter]
    search_fields = ["title", "culprit", "=fingerprint", "=error_code"]
    ordering = ["-last_seen", "-id"]
    date_hierarchy = None
    list_per_page = 50
    actions = ["resolve", "ignore", "unresolve"]
    readonly_extra = ["events_link", "count_chart", "sample_stack_trace", "timeline", "releases"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(count_24h=_count_24h())

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in Issue._meta.fields if f.name != "last_batch_reopened"]
        return [*self.readonly_extra, *fields]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Its counts and users are kept with the errors' (a deleted issue would come back
        # with its users uncounted): resolve or ignore it instead.
        return False

    @admin.display(description="title")
    def short_title(self, obj: Issue) -> str:
        return obj.title[:100]

    @admin.display(description="24 h")
    def count_24h(self, obj: Issue) -> int:
        return obj.count_24h

    @admin.display(description="events")
    def events_link(self, obj: Issue) -> str:
        url = (
            reverse("admin:errors_errorlog_changelist")
            + "?"
            + urlencode({"fingerprint": obj.fingerprint})
        )
        return format_html('<a href="{}">All {} event(s) of this issue</a>', url, obj.event_count)

    @admin.display(description="events per hour, last 24 h")
    def count_chart(self, obj: Issue) -> str:
        buckets = selectors.issue_series(obj.fingerprint, hours=24)
        top = max((b["count"] for b in buckets), default=0) or 1
        width, height, step = 480, 60, 480 / max(len(buckets), 1)
        bars = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="#79aec8">'
            "<title>{}: {}</title></rect>",
            (
                (
                    round(i * step, 1),
                    round(height - b["count"] * height / top, 1),
                    round(step * 0.8, 1),
                    round(b["count"] * height / top, 1),
                    b["start"].strftime("%Y-%m-%d %H:%M UTC"),
                    b["count"],
                )
                for i, b in enumerate(buckets)
            ),
        )
        return format_html(
            '<svg class="issue-chart" viewBox="0 0 {} {}" style="width: 100%; max-width: 480px" '
            'role="img" aria-label="events per hour">{}</svg><div>peak {} an hour</div>',
            width,
            height,
            bars,
            top if any(b["count"] for b in buckets) else 0,
        )

    @admin.display(description="sample event (latest)")
    def sample_stack_trace(self, obj: Issue) -> str:
        event = selectors.issue_sample_event(obj.fingerprint)
        if event is None:
            return "-"
        url = reverse("admin:errors_errorlog_change", args=[event.pk])
        return format_html(
            '<a href="{}">{}</a> at {}<pre class="issue-stack" style="overflow-x: auto; '
            'max-width: 100%">{}</pre>',
            url,
            event.error_message[:200],
            event.timestamp.strftime("%Y-%m-%d %H:%M:%S UTC"),
            event.stack_trace or "(no stack trace)",
        )

    @admin.display(description="timeline")
    def timeline(self, obj: Issue) -> str:
        entries = selectors.issue_timeline(obj)
        return format_html(
            '<ul class="issue-timeline" style="margin: 0; padding: 0; list-style: none">{}</ul>',
            format_html_join(
                "",
                "<li>{} {}{}{}</li>",
                (
                    (
                        a.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                        a.get_kind_display(),
                        f" by {a.actor}" if a.actor else "",
                        f": {a.note}" if a.note else "",
                    )
                    for a in entries
                ),
            ),
        )

    @admin.display(description="releases (last seen first)")
    def releases(self, obj: Issue) -> str:
        rows, truncated = selectors.issue_releases(obj.fingerprint)
        if not rows:
            return "-"
        return format_html(
            '<ul class="issue-releases" style="margin: 0; padding: 0; list-style: none">{}{}</ul>',
            format_html_join(
                "",
                "<li>{}: {} event(s), {} to {}</li>",
                (
                    (
                        r.release,
                        r.events,
                        r.first_seen.strftime("%Y-%m-%d %H:%M UTC"),
                        r.last_seen.strftime("%Y-%m-%d %H:%M UTC"),
                    )
                    for r in rows
                ),
            ),
            format_html("<li>(the {} last seen shown)</li>", len(rows)) if truncated else "",
        )

    def _act(self, request, queryset, service, done: str) -> None:
        n = service(issues=queryset, actor=request.user.get_username())
        self.message_user(request, f"{n} issue(s) {done}.")

    @admin.action(description="Resolve selected issues", permissions=["triage"])
    def resolve(self, request, queryset):
        self._act(request, queryset, services.issues_resolve, "resolved")

    @admin.action(description="Ignore selected issues", permissions=["triage"])
    def ignore(self, request, queryset):
        self._act(request, queryset, services.issues_ignore, "ignored")

    @admin.action(description="Unresolve selected issues", permissions=["triage"])
    def unresolve(self, request, queryset):
        self._act(request, queryset, services.issues_unresolve, "reopened")

    def has_triage_permission(self, request) -> bool:
        return request.user.has_perm("errors.change_issue")

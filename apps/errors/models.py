from django.db import models

from apps.ingest.models import PartitionedRecord


class ErrorCategory(models.TextChoices):
    API = "api"
    DATABASE = "database"
    EXTERNAL_SERVICE = "external_service"
    VALIDATION = "validation"
    FRONTEND = "frontend"


class Severity(models.TextChoices):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ErrorLog(PartitionedRecord):
    """A categorised error, triaged to resolved by staff."""

    partition_period = "week"  # written seldom: a week a partition

    category = models.CharField(max_length=32, choices=ErrorCategory.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.ERROR)
    error_message = models.TextField()
    error_code = models.CharField(max_length=100, blank=True, default="")
    endpoint = models.CharField(max_length=500, blank=True, default="")
    user_id = models.CharField(max_length=255, blank=True, default="")
    device_id = models.CharField(max_length=255, blank=True, default="")
    stack_trace = models.TextField(blank=True, default="")
    context = models.JSONField(default=dict, blank=True)
    resolved = models.BooleanField(default=False, db_default=False)
    resolved_by = models.CharField(max_length=255, blank=True, default="", db_default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_notes = models.TextField(blank=True, default="", db_default="")
    # Set as the row is validated (fingerprints.enrich_error): the issue it belongs to
    # (Issue.fingerprint), where in the code it was raised, and the release it names.
    fingerprint = models.CharField(max_length=32, blank=True, default="", db_default="")
    culprit = models.CharField(max_length=255, blank=True, default="", db_default="")
    release = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta(PartitionedRecord.Meta):
        verbose_name = "error"
        indexes = [
            models.Index(fields=["timestamp"], name="error_ts"),  # error-trends, retention
            models.Index(fields=["category", "timestamp"], name="error_category_ts"),
            # unresolved count on error-trends and the admin's default triage view.
            models.Index(
                fields=["timestamp"],
                name="error_unresolved_ts",
                condition=models.Q(resolved=False),
            ),
            # An issue's events newest first, its count over 24 h and over time.
            models.Index(fields=["fingerprint", "timestamp"], name="error_fingerprint_ts"),
        ]


class IssueStatus(models.TextChoices):
    UNRESOLVED = "unresolved"
    RESOLVED = "resolved"
    IGNORED = "ignored"


# Worst first: an issue's severity is the worst of its events'.
SEVERITY_ORDER = (Severity.CRITICAL, Severity.ERROR, Severity.WARNING, Severity.INFO)


class Issue(models.Model):
    """Errors that share a fingerprint. Its counts are kept by the statement that stores
    the errors (grouping.py), so they are exact under retried and concurrent batches."""

    fingerprint = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=255)
    culprit = models.CharField(max_length=255, blank=True, default="")
    error_code = models.CharField(max_length=100, blank=True, default="")
    category = models.CharField(max_length=32, choices=ErrorCategory.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(
        max_length=16,
        choices=IssueStatus.choices,
        default=IssueStatus.UNRESOLVED,
        db_default=IssueStatus.UNRESOLVED,
    )
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    event_count = models.BigIntegerField(default=0)
    users_affected = models.BigIntegerField(default=0, help_text="Distinct user ids, exact.")
    first_release = models.CharField(max_length=200, blank=True, default="")
    last_release = models.CharField(max_length=200, blank=True, default="")
    regressions = models.IntegerField(default=0, help_text="Times it reopened after resolved.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=255, blank=True, default="")
    # Whether the newest batch of events reopened it: how the statement that stores
    # errors tells a regression from its RETURNING (PostgreSQL 15 returns no old values).
    last_batch_reopened = models.BooleanField(default=False, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["-last_seen", "-id"], name="issue_last_seen"),  # the lists
            models.Index(fields=["status", "-last_seen"], name="issue_status_last_seen"),
        ]

    def __str__(self) -> str:
        return self.title


class IssueUser(models.Model):
    """A user affected by an issue (by fingerprint, so the statement that stores errors
    adds it before the issue's row and counts only users it inserted). `last_seen` is
    refreshed at most daily; retention forgets users not seen for its period."""

    fingerprint = models.CharField(max_length=32)
    user_id = models.CharField(max_length=255)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "user_id"], name="issue_user_once")
        ]
        indexes = [models.Index(fields=["last_seen"], name="issue_user_last_seen")]  # retention

    def __str__(self) -> str:
        return f"{self.user_id} in {self.fingerprint}"


class IssueRelease(models.Model):
    """A release an issue was seen in (by fingerprint, as IssueUser): its events there and
    when, kept by the statement that stores errors (grouping.py) from the rows it
    inserted, so a retried batch adds nothing. Errors without a release are not counted;
    retention forgets a release not seen for its period."""

    fingerprint = models.CharField(max_length=32)
    release = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    events = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "release"], name="issue_release_once")
        ]
        indexes = [
            models.Index(fields=["release"], name="issue_release_release"),  # the filter
            models.Index(fields=["last_seen"], name="issue_release_last_seen"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.release} in {self.fingerprint}"


class ActivityKind(models.TextChoices):
    FIRST_SEEN = "first_seen", "first seen"
    RESOLVED = "resolved"
    REGRESSED = "regressed"
    IGNORED = "ignored"
    UNRESOLVED = "unresolved", "reopened"


class IssueActivity(models.Model):
    """An issue's timeline: first seen, resolved by X, regressed, ignored, reopened."""

    # No database constraint: retention deletes issues and timelines by their own times.
    issue = models.ForeignKey(
        Issue, on_delete=models.DO_NOTHING, db_constraint=False, related_name="activities"
    )
    kind = models.CharField(max_length=16, choices=ActivityKind.choices)
    at = models.DateTimeField()
    actor = models.CharField(max_length=255, blank=True, default="")
    # The event that opened or reopened it (the alert's metric point is derived from it).
    event_id = models.UUIDField(null=True, blank=True)
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["issue", "at"], name="issue_activity_issue_at"),
            models.Index(fields=["at"], name="issue_activity_at"),  # retention
            models.Index(
                fields=["event_id"],
                name="issue_activity_event",  # the openings a stored batch made
                condition=models.Q(event_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"

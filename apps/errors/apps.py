from django.apps import AppConfig


class ErrorsConfig(AppConfig):
    name = "apps.errors"
    label = "errors"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from .derive import issue_openings
        from .fingerprints import enrich_error
        from .grouping import AFTER_INSERT, RETURNING
        from .models import ErrorLog, Issue, IssueActivity, IssueRelease, IssueUser
        from .schemas import ErrorIn

        register(
            "error",
            model=ErrorLog,
            schema=ErrorIn,
            session_writable=True,
            # Grouped into issues as they are stored (fingerprints.py, grouping.py).
            enrich=enrich_error,
            enriched=("fingerprint", "culprit", "release"),
            after_insert=AFTER_INSERT,
            returning=RETURNING,
            derive=issue_openings,
            # An issue not seen for the retention is forgotten, with its users and timeline
            # (and a release it was not seen in for the retention).
            derived_tables=(
                (Issue, "last_seen"),
                (IssueUser, "last_seen"),
                (IssueRelease, "last_seen"),
                (IssueActivity, "at"),
            ),
        )

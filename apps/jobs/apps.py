from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"

    def ready(self) -> None:
        from apps.ingest.registry import register

        from . import signals  # noqa: F401 - connects the receivers
        from .models import JobOutcome
        from .schemas import JobOutcomeIn

        register("job_outcome", model=JobOutcome, schema=JobOutcomeIn, aliases=("job-outcome",))

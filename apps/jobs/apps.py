from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"

    def ready(self) -> None:
        from apps.ingest.registry import register
        from apps.metrics.exposition import add_collector

        from . import signals  # noqa: F401 - connects the receivers
        from .exposition import PeriodicTasksCollector
        from .models import JobOutcome
        from .schemas import JobOutcomeIn

        register("job_outcome", model=JobOutcome, schema=JobOutcomeIn, aliases=("job-outcome",))
        add_collector(PeriodicTasksCollector)

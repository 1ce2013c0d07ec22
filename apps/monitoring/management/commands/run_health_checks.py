from django.core.management.base import BaseCommand, CommandError

from apps.monitoring.services import checks_run_due


class Command(BaseCommand):
    help = "Run every enabled health check now, due or not, and print each result."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass (the only mode).")

    def handle(self, *args, once: bool, **options):
        if not once:
            raise CommandError("Say --once: beat runs the checks on schedule.")
        for check in checks_run_due(all_services=True):
            took = "" if check.response_time_ms is None else f" in {check.response_time_ms:.0f} ms"
            error = f": {check.error}" if check.error else ""
            self.stdout.write(f"{check.service.name}: {check.status}{took}{error}")

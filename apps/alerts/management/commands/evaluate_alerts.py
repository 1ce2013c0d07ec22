import time

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.alerts.evaluation import rules_evaluate


class Command(BaseCommand):
    help = (
        "Evaluate every enabled alert rule now and print each rule's value and state; "
        "without --once, again every ALERTS_EVALUATION_SECONDS (for a setup without beat)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")

    def handle(self, *args, once: bool, **options):
        while True:
            started = time.monotonic()
            evaluations = rules_evaluate()
            for e in evaluations:
                value = "no data" if e.value is None else f"{e.value:.6g}"
                incident = f" incident #{e.incident_id}" if e.incident_id else ""
                self.stdout.write(f"{e.rule_name}: value {value}, {e.state} ({e.action}){incident}")
            elapsed = time.monotonic() - started
            self.stderr.write(f"{len(evaluations)} rule(s) evaluated in {elapsed:.2f} s")
            if once:
                return
            time.sleep(max(0.0, settings.ALERTS_EVALUATION_SECONDS - elapsed))

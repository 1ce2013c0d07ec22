from django.conf import settings
from django.core.management.base import BaseCommand

from apps.alerts.builtin import BUILTIN_RULES, builtin_rules_install
from apps.alerts.services import default_channels


class Command(BaseCommand):
    help = "Create the built-in alert rules not installed yet (edited or deleted ones stay so)."

    def handle(self, *args, **options):
        created = builtin_rules_install()
        for name in created:
            self.stdout.write(f"installed: {name}")
        self.stdout.write(f"{len(created)} of {len(BUILTIN_RULES)} built-in rules installed now.")
        existing = {channel.name for channel in default_channels()}
        missing = [name for name in settings.ALERTS_DEFAULT_CHANNELS if name not in existing]
        if existing:
            self.stdout.write(f"Default channels: {', '.join(sorted(existing))}.")
        if missing:
            self.stdout.write(
                f"Default channel(s) not created yet: {', '.join(missing)}; each is added "
                "to every built-in rule when it is created."
            )
        if not settings.ALERTS_DEFAULT_CHANNELS:
            self.stdout.write(
                "Built-in rules notify no channel: set ALERTS_DEFAULT_CHANNELS, or give a "
                "rule channels in the admin or with PATCH .../alerts/rules/{id}."
            )

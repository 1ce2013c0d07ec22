from django.core.management.base import BaseCommand

from apps.alerts.builtin import BUILTIN_RULES, builtin_rules_install


class Command(BaseCommand):
    help = "Create the built-in alert rules not installed yet (edited or deleted ones stay so)."

    def handle(self, *args, **options):
        created = builtin_rules_install()
        for name in created:
            self.stdout.write(f"installed: {name}")
        self.stdout.write(f"{len(created)} of {len(BUILTIN_RULES)} built-in rules installed now.")

from django.core.management.base import BaseCommand

from apps.monitoring.builtin import BUILTIN_SERVICES, builtin_services_install


class Command(BaseCommand):
    help = "Create the checks of this service's own parts that are missing (make run runs it)."

    def handle(self, *args, **options):
        created = builtin_services_install()
        for name in created:
            self.stdout.write(f"installed: {name}")
        self.stdout.write(
            f"{len(created)} of {len(BUILTIN_SERVICES)} built-in checks installed now."
        )

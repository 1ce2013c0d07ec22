from django.core.management.base import BaseCommand

from apps.core.services import schedules_sync


class Command(BaseCommand):
    help = "Sync django-celery-beat's periodic tasks with settings.PERIODIC_TASKS (idempotent)."

    def handle(self, *args, **options):
        created, updated, removed = schedules_sync()
        self.stdout.write(
            f"Schedules in sync: {created} created, {updated} updated, {removed} removed."
        )

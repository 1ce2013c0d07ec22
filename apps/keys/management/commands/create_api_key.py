from django.core.management.base import BaseCommand

from apps.keys.models import Scope
from apps.keys.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key; the key is printed alone on the last line and never stored."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scope",
            choices=Scope.values,
            default=Scope.INGEST,
            help="; ".join(label for label in Scope.labels) + " (default: ingest)",
        )

    def handle(self, *args, name: str, scope: str, **options):
        key, plain = api_key_create(name=name, scope=scope)
        self.stderr.write(f"Created {scope} key {key.prefix!r} named {name!r}. Store it now:")
        self.stdout.write(plain)

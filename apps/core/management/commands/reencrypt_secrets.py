from django.core.management.base import BaseCommand

from apps.core.secrets import new_key, secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret again with the first key of FIELD_ENCRYPTION_KEYS "
        "(run after adding a key, before removing the old one). --new-key prints a new key."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--new-key", action="store_true", help="Print a new Fernet key and do nothing else."
        )

    def handle(self, *args, **options) -> None:
        if options["new_key"]:
            self.stdout.write(new_key())
            return
        for column, rows in secrets_reencrypt().items():
            self.stdout.write(f"{column}: {rows} row(s) encrypted with the first key.")

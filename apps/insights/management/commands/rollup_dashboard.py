from django.core.management.base import BaseCommand

from apps.insights.services import dashboard_rollup


class Command(BaseCommand):
    help = (
        "Roll up the dashboard's figures of every complete hour not rolled up yet (beat "
        "does it each hour; the first run covers everything kept, a day a chunk), and "
        "again the chunks items received since the last run arrived late for. "
        "--rebuild forgets the rollup first and rolls everything up again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="roll up everything again")

    def handle(self, *args, rebuild: bool = False, **options) -> None:
        made = dashboard_rollup(rebuild=rebuild)
        self.stdout.write(f"{made} chunk(s) rolled up")

from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "apps.keys"
    label = "keys"

    def ready(self) -> None:
        from . import schema  # noqa: F401 - registers the OpenAPI security schemes

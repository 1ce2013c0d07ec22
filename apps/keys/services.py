from .models import APIKey, Scope


def api_key_create(*, name: str, scope: str) -> tuple[APIKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    if scope not in Scope.values:
        raise ValueError(f"scope must be one of {', '.join(Scope.values)}")
    return APIKey.objects.create_key(name=name, scope=scope)


def api_key_revoke(*, key: APIKey) -> None:
    key.revoked = True
    key.save(update_fields=["revoked"])

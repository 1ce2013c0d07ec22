"""An incident's timeline: what happened, when, by whom."""

from datetime import datetime

from .models import AlertIncident, IncidentEvent, Silence


def record(incident: AlertIncident, kind: str, at: datetime, actor: str, detail: str = "") -> None:
    IncidentEvent.objects.create(incident=incident, kind=kind, at=at, actor=actor, detail=detail)


def silence_note(silence: Silence) -> str:
    note = f"silence #{silence.pk} until {silence.ends_at.isoformat()}"
    return f"{note}: {silence.comment}" if silence.comment else note

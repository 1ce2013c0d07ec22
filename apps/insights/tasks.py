from celery import shared_task

from . import services


@shared_task(name="insights.track_period", ignore_result=True)
def track_period(period_type: str) -> None:
    """Beat: the last complete period of this type, once it is over; tracked rows stay.
    Each hour also rolls up the dashboard's figures of the hours not rolled up yet."""
    services.period_track(period=services.period_for(period_type))
    if period_type == "hour":
        services.dashboard_rollup()

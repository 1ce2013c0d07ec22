"""Tracking periods in UTC: hour, day, ISO week (from Monday) and calendar month."""

from datetime import UTC, datetime, timedelta

from django.db import models


class PeriodType(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_start(period_type: str, moment: datetime) -> datetime:
    """The start of the period that holds `moment`."""
    moment = moment.astimezone(UTC)
    if period_type == PeriodType.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period_type == PeriodType.DAY:
        return day
    if period_type == PeriodType.WEEK:
        return day - timedelta(days=day.weekday())
    if period_type == PeriodType.MONTH:
        return day.replace(day=1)
    raise ValueError(f"unknown period type {period_type!r}")


def period_end(period_type: str, start: datetime) -> datetime:
    if period_type == PeriodType.HOUR:
        return start + timedelta(hours=1)
    if period_type == PeriodType.DAY:
        return start + timedelta(days=1)
    if period_type == PeriodType.WEEK:
        return start + timedelta(weeks=1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def previous_start(period_type: str, start: datetime) -> datetime:
    return period_start(period_type, start - timedelta(microseconds=1))


def last_complete(period_type: str, now: datetime) -> datetime:
    """The start of the latest period that has ended by `now`."""
    return previous_start(period_type, period_start(period_type, now))

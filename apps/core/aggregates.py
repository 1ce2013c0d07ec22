"""SQL aggregates and the rounding read answers share."""

from django.db.models import Aggregate, FloatField


class Percentile(Aggregate):
    """percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within 0..1")
        super().__init__(expression, fraction=float(fraction), **extra)


def interpolated(ordered: list[float], fraction: float) -> float | None:
    """The project's one percentile definition (README, Percentiles), for values already
    in order: at position fraction * (n - 1), linear between the two closest ranks. The
    very arithmetic of PostgreSQL's percentile_cont (the `Percentile` aggregate), so both
    give the same float; the metrics sketch interpolates its ranks the same way."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ratio(part: float, whole: float) -> float:
    """part / whole to 4 places; 0.0 when there is no whole."""
    return round(part / whole, 4) if whole else 0.0


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)

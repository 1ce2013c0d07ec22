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


def ratio(part: float, whole: float) -> float:
    """part / whole to 4 places; 0.0 when there is no whole."""
    return round(part / whole, 4) if whole else 0.0


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)

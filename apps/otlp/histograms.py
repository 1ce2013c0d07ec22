"""A histogram data point as the single values the metric engine stores.

The engine keeps one value per point (rollups: count, sum, min, max and a DDSketch
of them), with no weight, so a histogram point with n observations becomes n
points, each at a value inside its observation's bucket:

- count is exact; sum (hence avg) is exact: the values are moved inside their buckets
  until they add up to the point's `sum`; min and max are exact when the point carries
  them (one observation is placed at each).
- percentiles are as precise as the sender's buckets. An exponential histogram's
  bucket at scale s spans a factor 2**(2**-s), and each value is placed at the point
  of least relative error, so from scale 6 up (the SDK's default is 20, lowered only
  when the values span a wide range) every value is within 0.55% of the observations
  it stands for, and the engine's percentiles stay within about 1.5%. An explicit-bounds
  histogram knows only its bounds: a value is the middle of its bucket (clamped to
  min/max, or at the bound for the open-ended ones), so its percentiles are as coarse
  as the bounds, as in every backend that stores such histograms.
"""

import math
from dataclasses import dataclass


class OutOfRangeError(ValueError):
    """The point cannot be expanded (a bucket past the floats, a negative count)."""


@dataclass
class Slot:
    """`n` observations at `value`, which may move within [low, high]."""

    n: int
    value: float
    low: float
    high: float
    pinned: bool = False


def explicit_slots(bounds: list[float], counts: list[int]) -> list[Slot]:
    """Buckets (-inf, b0], (b0, b1], ..., (b_last, +inf) with their counts."""
    if len(counts) != len(bounds) + 1 and counts:
        raise OutOfRangeError("bucket_counts must have one more entry than explicit_bounds")
    slots = []
    for i, n in enumerate(counts):
        if n <= 0:
            if n < 0:
                raise OutOfRangeError("a bucket count is negative")
            continue
        low = bounds[i - 1] if i > 0 else -math.inf
        high = bounds[i] if i < len(bounds) else math.inf
        slots.append(Slot(n, math.nan, low, high))
    return slots


def exponential_slots(
    scale: int, zero_count: int, zero_threshold: float, positive: dict, negative: dict
) -> list[Slot]:
    """Buckets (base**i, base**(i+1)] with base = 2**(2**-scale), mirrored for negatives;
    each value at 2*lo*hi/(lo+hi), the point of least relative error to the bucket."""
    slots = []
    for index, n in sorted(negative.items(), reverse=True):
        low, high = _exp_bounds(scale, index)
        slots.append(_exp_slot(n, -high, -low))
    if zero_count:
        slots.append(Slot(zero_count, 0.0, -zero_threshold, zero_threshold))
    for index, n in sorted(positive.items()):
        low, high = _exp_bounds(scale, index)
        slots.append(_exp_slot(n, low, high))
    return [slot for slot in slots if slot.n]


def _exp_bounds(scale: int, index: int) -> tuple[float, float]:
    try:
        return 2.0 ** (index / 2.0**scale), 2.0 ** ((index + 1) / 2.0**scale)
    except OverflowError:
        raise OutOfRangeError("an exponential bucket lies beyond the float range") from None


def _exp_slot(n: int, low: float, high: float) -> Slot:
    if n < 0:
        raise OutOfRangeError("a bucket count is negative")
    magnitude_low, magnitude_high = sorted((abs(low), abs(high)))
    value = 2 * magnitude_low * magnitude_high / (magnitude_low + magnitude_high)
    return Slot(n, value if high > 0 else -value, low, high)


def values(
    slots: list[Slot], *, total: float | None, low: float | None, high: float | None
) -> list[float]:
    """Every observation's value, ascending: inside its bucket (clamped to `low`/`high`
    when known), the extreme ones at `low` and `high`, and summing to `total` when known."""
    if not slots:
        return []
    for slot in slots:
        if low is not None and math.isfinite(low):
            slot.low = max(slot.low, low)
        if high is not None and math.isfinite(high):
            slot.high = min(slot.high, high)
        if slot.low > slot.high:  # min/max contradict the bucket: the bucket wins
            slot.low, slot.high = slot.high, slot.low
        if math.isnan(slot.value) or not slot.low <= slot.value <= slot.high:
            slot.value = _middle(slot, total, slots)
    slots = _pin(slots, low, high)
    if total is not None and math.isfinite(total):
        _fit(slots, total)
    out: list[float] = []
    for slot in slots:
        out.extend([slot.value] * slot.n)
    return out


def _middle(slot: Slot, total: float | None, slots: list[Slot]) -> float:
    if math.isfinite(slot.low) and math.isfinite(slot.high):
        return (slot.low + slot.high) / 2
    if math.isfinite(slot.high):
        return slot.high
    if math.isfinite(slot.low):
        return slot.low
    # No bound at all (a histogram without bounds): the mean stands for every value.
    count = sum(s.n for s in slots)
    return total / count if total is not None and math.isfinite(total) and count else 0.0


def _pin(slots: list[Slot], low: float | None, high: float | None) -> list[Slot]:
    """One observation of the first slot at `low`, one of the last at `high`."""
    if low is not None and math.isfinite(low):
        first = slots[0]
        slots = [Slot(1, low, low, low, True), *_less(first), *slots[1:]]
    if high is not None and math.isfinite(high):
        last = slots[-1]
        if last.pinned:  # a single observation: it is both min and max
            return slots
        slots = [*slots[:-1], *_less(last), Slot(1, high, high, high, True)]
    return slots


def _less(slot: Slot) -> list[Slot]:
    slot.n -= 1
    return [slot] if slot.n else []


def _fit(slots: list[Slot], total: float) -> None:
    """Move the free values within their buckets so that the sum is `total`; what the
    buckets cannot hold (a sum the bounds contradict) is spread over the free values."""
    free = [slot for slot in slots if not slot.pinned]
    if not free:
        return
    residual = total - math.fsum(slot.n * slot.value for slot in slots)
    if residual == 0:
        return
    up = residual > 0
    room = [(slot.high - slot.value) if up else (slot.value - slot.low) for slot in free]
    unbounded = [slot for slot, r in zip(free, room, strict=True) if math.isinf(r)]
    if unbounded:
        n = sum(slot.n for slot in unbounded)
        for slot in unbounded:
            slot.value += residual / n
        return
    capacity = math.fsum(slot.n * r for slot, r in zip(free, room, strict=True))
    share = min(1.0, abs(residual) / capacity) if capacity > 0 else 0.0
    for slot, r in zip(free, room, strict=True):
        slot.value += share * r if up else -share * r
    left = total - math.fsum(slot.n * slot.value for slot in slots)
    if abs(left) > 1e-9 * max(1.0, abs(total)):
        n = sum(slot.n for slot in free)
        for slot in free:
            slot.value += left / n

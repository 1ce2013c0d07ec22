"""Which price applies to a model's usage at a moment, and what that usage cost."""

from bisect import bisect_right
from datetime import datetime
from fnmatch import fnmatchcase

from .models import ModelPrice

_GLOB = set("*?[")
MILLION = 1_000_000


def _specificity(pattern: str) -> tuple[int, int]:
    """An exact name beats any glob; a glob with more literal characters beats a looser one."""
    if not _GLOB & set(pattern):
        return (1, len(pattern))
    return (0, sum(char not in _GLOB for char in pattern))


class PriceBook:
    """Every price, loaded once for a read."""

    def __init__(self, prices: list[ModelPrice] | None = None):
        self.prices = list(ModelPrice.objects.all()) if prices is None else prices
        self._breakpoints = self.breakpoints()
        # By model and how many breakpoints have passed: the prices in force are the same
        # anywhere between two breakpoints, so a batch of usage looks each model up once.
        self._found: dict[tuple[str, int], ModelPrice | None] = {}

    def breakpoints(self) -> list[datetime]:
        """The moments a price takes over: between two of them every price is constant."""
        return sorted({p.valid_from for p in self.prices if p.valid_from is not None})

    def price_for(self, model: str, at: datetime) -> ModelPrice | None:
        key = (model, bisect_right(self._breakpoints, at))
        if key not in self._found:
            valid = [
                p
                for p in self.prices
                if fnmatchcase(model, p.model) and (p.valid_from is None or p.valid_from <= at)
            ]
            self._found[key] = max(
                valid,
                key=lambda p: (_specificity(p.model), p.valid_from is not None, p.valid_from),
                default=None,
            )
        return self._found[key]

    def cost(
        self, model: str, at: datetime, tokens_in: int, tokens_out: int, cached: int
    ) -> float | None:
        """USD of this usage, cached input at its own price when the price has one;
        None when no price matches."""
        price = self.price_for(model, at)
        if price is None:
            return None
        cached_price = price.cached_input_per_million
        if cached_price is None:
            cached_price = price.input_per_million
        return (
            (tokens_in - cached) * float(price.input_per_million)
            + cached * float(cached_price)
            + tokens_out * float(price.output_per_million)
        ) / MILLION

"""What a span or log export converts to: items by ingest kind, each with the index of
the span or record it came from, and what the others were dropped as."""

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class ByKind:
    items: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    origins: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    names: dict[int, str] = field(default_factory=dict)  # origin index -> how to name it
    dropped: int = 0

    def add(self, kind: str, index: int, name: str, item: dict) -> None:
        self.items[kind].append(item)
        self.origins[kind].append(index)
        self.names[index] = name

"""Failed console sign-ins, slowed per client address: an in-process token bucket.

Each address may fail ``burst`` times at once and earns one more try every
``60 / per_minute`` seconds. Only failures spend a token, so a person who types the
key right is never held up. (In-process: each ``ims serve`` counts on its own.)
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict


class Throttle:
    def __init__(self, per_minute: float = 5, burst: int = 5, clock=time.monotonic, max_addresses: int = 10_000):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address → (tokens, at)

    def _tokens(self, address: str) -> float:
        tokens, at = self._buckets.get(address, (self.burst, self.clock()))
        return min(self.burst, tokens + (self.clock() - at) * self.rate)

    def wait_seconds(self, address: str) -> int:
        """0 when the address may try now; else the whole seconds until its next try."""
        missing = 1 - self._tokens(address)
        return 0 if missing <= 0 else max(1, math.ceil(missing / self.rate))

    def failed(self, address: str) -> None:
        self._buckets[address] = (max(0.0, self._tokens(address) - 1), self.clock())
        self._buckets.move_to_end(address)
        while len(self._buckets) > self.max_addresses:  # the longest-quiet addresses go first
            self._buckets.popitem(last=False)

"""Per-user request rate limiting: a token bucket for each user (as Slurm's
`SlurmctldParameters=rl_enable`).

Each user's bucket holds up to `bucket_size` requests and refills at
`refill_per_s`; a request takes one, and a user whose bucket is empty is told how
long to wait (the API answers 429 with Retry-After; corral's own clients wait that
long and send the request again). One user polling the queue in a tight loop
thus gets a steady `refill_per_s` answers a second instead of the controller's
whole CPU, and everyone else's requests and the scheduler keep theirs.

The table is bounded (`max_users`): past it, the buckets that have refilled
(which hold nothing a new bucket would not) are dropped first, then the
least recently used. Thread-safe: the read path and the writer's loop both ask.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_USERS = 8192


class RateLimiter:
    """Token buckets by user name."""

    def __init__(self, bucket_size: int, refill_per_s: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_users: int = MAX_USERS) -> None:
        if bucket_size < 1 or not refill_per_s > 0 or max_users < 1:
            raise ValueError("a bucket holds at least one request and refills")
        self.bucket_size = bucket_size
        self.refill_per_s = refill_per_s
        self.max_users = max_users
        self._clock = clock
        self._lock = threading.Lock()
        # user -> (requests left, when counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, user: str) -> float:
        """Take one request from `user`'s bucket: 0.0 if it may go on, else the
        seconds until one is there again (nothing is taken then)."""
        with self._lock:
            now = self._clock()
            left, t = self._buckets.get(user, (float(self.bucket_size), now))
            left = min(float(self.bucket_size), left + (now - t) * self.refill_per_s)
            if left >= 1.0:
                self._buckets[user] = (left - 1.0, now)
                self._buckets.move_to_end(user)
                if len(self._buckets) > self.max_users:
                    self._shrink(now)
                return 0.0
            self._buckets[user] = (left, now)
            self._buckets.move_to_end(user)
            return (1.0 - left) / self.refill_per_s

    def _shrink(self, now: float) -> None:
        full = [u for u, (left, t) in self._buckets.items()
                if left + (now - t) * self.refill_per_s >= self.bucket_size]
        for u in full:
            del self._buckets[u]
        keep = self.max_users - self.max_users // 10  # (room for the next ones)
        while len(self._buckets) > keep:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)

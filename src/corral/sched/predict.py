"""Runtime prediction from history, for backfilling with predictions.

An online predictor in the family of Tsafrir, Etsion and Feitelson's (the mean
of a user's last two runtimes, "EASY++"), made finer: a job's prediction is the
mean of the last `window` runtimes of the most specific group with enough
history, from (user, requested time) to the user to every job with the same
requested time, capped by the request. Jobs asking the same time are usually
the same program run again (the same script), so the (user, request) group is
the closest stand-in for a job name that a trace has.

A job that outlives its prediction is planned to end at its start plus the
prediction doubled as often as needed to pass the elapsed time, never past its
limit (`corrected_end`): a wrong guess costs a few re-plans, not a jump to the
limit at once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

INF = math.inf
MIN_PREDICTION_S = 1.0


@dataclass
class RuntimePredictor:
    """Online runtime predictor: `record(user, limit_s, run_s)` after each finished
    job, `predict(user, limit_s)` for a job about to be planned."""

    window: int = 2  # runtimes averaged per group
    by_request: dict[tuple[str, float], deque[float]] = field(default_factory=dict)
    by_user: dict[str, deque[float]] = field(default_factory=dict)
    by_limit: dict[float, deque[float]] = field(default_factory=dict)
    # (user, requested time as given) -> prediction, until a record of the same
    # user or the same requested time (the groups it reads) drops it
    memo: dict[tuple[str, float], float] = field(default_factory=dict, repr=False)
    # the memo's keys by user and by group key, to drop what a record changes;
    # sets (dicts of None, in insertion order), so a key a record of the other
    # group dropped, then memoized again, is held once, not once more each time
    memo_of_user: dict[str, dict[tuple[str, float], None]] = field(default_factory=dict,
                                                                   repr=False)
    memo_of_limit: dict[float, dict[tuple[str, float], None]] = field(default_factory=dict,
                                                                      repr=False)

    def _push(self, d: dict, key: object, run_s: float) -> None:  # type: ignore[type-arg]
        q = d.get(key)
        if q is None:
            q = d[key] = deque(maxlen=self.window)
        q.append(run_s)

    def forget(self, user: str, key: float) -> None:
        """Drop the memo's predictions that read a group of `user` or of the
        group key `key` (those a record of theirs changes)."""
        memo = self.memo
        for mk in self.memo_of_user.pop(user, ()):
            memo.pop(mk, None)
        for mk in self.memo_of_limit.pop(key, ()):
            memo.pop(mk, None)

    def forget_all(self) -> None:
        self.memo.clear()
        self.memo_of_user.clear()
        self.memo_of_limit.clear()

    def record(self, user: str, limit_s: float, run_s: float) -> None:
        limit_s = group_key(limit_s)
        run_s = max(run_s, 0.0)
        self._push(self.by_request, (user, limit_s), run_s)
        self._push(self.by_user, user, run_s)
        self._push(self.by_limit, limit_s, run_s)
        # after the change: a prediction made meanwhile (a pass in another
        # thread) is not kept
        self.forget(user, limit_s)

    def predict(self, user: str, limit_s: float) -> float:
        """The planning duration for a job of `user` asking `limit_s` (inf:
        unlimited): never above the request, never below one second."""
        mk = (user, limit_s)
        memo = self.memo.get(mk)
        if memo is None:
            memo = self.memo[mk] = self._predict(user, limit_s)
            by_user = self.memo_of_user.get(user)
            if by_user is None:
                self.memo_of_user[user] = {mk: None}
            else:
                by_user[mk] = None
            key = group_key(limit_s)
            by_limit = self.memo_of_limit.get(key)
            if by_limit is None:
                self.memo_of_limit[key] = {mk: None}
            else:
                by_limit[mk] = None
        return memo

    def _predict(self, user: str, limit_s: float) -> float:
        key = group_key(limit_s)
        q = self.by_request.get((user, key))
        if q is None or len(q) < self.window:
            q = self.by_user.get(user) if user else None
            if q is None or len(q) < self.window:
                q = self.by_limit.get(key)
                if q is None or len(q) < self.window:
                    return limit_s
        mean = sum(q) / len(q)
        return min(limit_s, max(MIN_PREDICTION_S, mean))


def group_key(limit_s: float) -> float:
    """Requested times as group keys, in whole seconds (a limit recovered as
    end - start on an epoch clock is off by rounding)."""
    return limit_s if limit_s == INF else float(round(limit_s))


def corrected_end(t_start: float, t_pred_end: float, now: float, t_limit_end: float) -> float:
    """Where a running job whose predicted end `t_pred_end` has passed (`now`) is
    planned to end: start + the prediction doubled until it passes `now`,
    capped at the limit. A function of its arguments only, so the controller
    (which sees the job anew every pass) and the simulator (which re-plans at
    each doubling) agree."""
    if t_pred_end > now:
        return min(t_pred_end, t_limit_end)
    d = max(t_pred_end - t_start, MIN_PREDICTION_S)
    elapsed = now - t_start
    while d <= elapsed:
        d *= 2
    return min(t_start + d, t_limit_end)

"""Runtime prediction by a learned model: a linear model of the log runtime,
fitted with scikit-learn's ridge regression on the most recent finished jobs.

`LearnedPredictor` keeps `RuntimePredictor`'s history (the last runtimes per
(user, requested time), per user, per requested time) and adds, per user, the
log ratio of runtime to request of the user's last jobs. A job's features are
read from that history as it stands when the job is planned:

- the log of the requested time;
- for each of the three groups, the log of the mean of its last runtimes and
  whether the group has any (the log request when it has none);
- the mean log ratio of runtime to request of the user's last
  `ratio_window` jobs, and whether there is one.

Each finished job adds a training row: its features as the history stood
before it was recorded, and the log of its runtime. Every `refit_every`
records (once `min_rows` rows are kept) the model is fitted again on the last
`train_rows` rows; until the first fit, and for unlimited requests, the
prediction is `RuntimePredictor`'s. A prediction is exp(model), never above
the request, never below one second. Fitting costs a few milliseconds; a
prediction is a dot product of nine numbers (no library call), so a
scheduling pass predicts as fast as with the recent-runtimes predictor.

Fed in the order jobs end, the same records give the same fits in the
controller (fed from the store at start and at every job's end) and in the
simulator.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from corral.sched.predict import MIN_PREDICTION_S, RuntimePredictor, group_key

INF = math.inf
MAX_LOG_S = 50.0  # exp(50) s: far above any limit, below overflow


@dataclass
class LearnedPredictor(RuntimePredictor):
    refit_every: int = 200
    train_rows: int = 4000
    min_rows: int = 200
    alpha: float = 1.0  # the ridge penalty
    ratio_window: int = 8
    # user -> log(runtime / request) of the user's last jobs
    ratios: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    rows_x: deque[tuple[float, ...]] = field(default_factory=deque, repr=False)
    rows_y: deque[float] = field(default_factory=deque, repr=False)
    # (intercept, weights) of the last fit; None: not fitted yet
    coef: tuple[float, tuple[float, ...]] | None = field(default=None, repr=False)
    n_recorded: int = field(default=0, repr=False)
    n_fits: int = field(default=0, repr=False)

    def features(self, user: str, key: float) -> tuple[float, ...]:
        """A job's features for a finite request `key` (whole seconds, >= 1)."""
        log_req = math.log(key)
        out = [log_req]
        for q in (
            self.by_request.get((user, key)),
            self.by_user.get(user) if user else None,
            self.by_limit.get(key),
        ):
            if q:
                out += (math.log(max(MIN_PREDICTION_S, sum(q) / len(q))), 1.0)
            else:
                out += (log_req, 0.0)
        r = self.ratios.get(user) if user else None
        out += (sum(r) / len(r), 1.0) if r else (0.0, 0.0)
        return tuple(out)

    def record(self, user: str, limit_s: float, run_s: float) -> None:
        key = group_key(limit_s)
        if key != INF and key >= 1:
            run_log = math.log(max(MIN_PREDICTION_S, run_s))
            self.rows_x.append(self.features(user, key))
            self.rows_y.append(run_log)
            if len(self.rows_y) > self.train_rows:
                self.rows_x.popleft()
                self.rows_y.popleft()
            if user:
                r = self.ratios.get(user)
                if r is None:
                    r = self.ratios[user] = deque(maxlen=self.ratio_window)
                r.append(run_log - math.log(key))
            self.n_recorded += 1
            if self.n_recorded % self.refit_every == 0 and len(self.rows_y) >= self.min_rows:
                self.fit()
        super().record(user, limit_s, run_s)

    @staticmethod
    def load_library() -> None:
        """Import what `fit` uses (a second or so, once per process)."""
        import sklearn.linear_model  # noqa: F401

    def fit(self) -> None:
        """Fit the model on the kept rows (scikit-learn's Ridge)."""
        import numpy as np
        from sklearn.linear_model import Ridge

        model = Ridge(alpha=self.alpha).fit(np.asarray(self.rows_x), np.asarray(self.rows_y))
        self.coef = (float(model.intercept_), tuple(float(w) for w in model.coef_))
        self.n_fits += 1
        self.forget_all()

    def _predict(self, user: str, limit_s: float) -> float:
        key = group_key(limit_s)
        if self.coef is None or key == INF or key < 1:
            return super()._predict(user, limit_s)
        b, w = self.coef
        z = b + sum(c * x for c, x in zip(w, self.features(user, key), strict=True))
        return min(limit_s, max(MIN_PREDICTION_S, math.exp(min(z, MAX_LOG_S))))


PREDICTORS: dict[str, type[RuntimePredictor]] = {
    "recent": RuntimePredictor,
    "learned": LearnedPredictor,
}

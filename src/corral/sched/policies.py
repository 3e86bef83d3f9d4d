"""Scheduling policies, written once against the `Machine` protocol.

A policy gets the runnable queue already in priority order and a machine that
holds what is running now; it starts what it may and books reservations. The
same code runs in the controller (NodeMachine) and the simulator
(CountMachine).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Literal

from corral.sched.machine import Machine
from corral.sched.predict import RuntimePredictor
from corral.sched.predict import corrected_end as doubled_end
from corral.sched.predict_model import PREDICTORS, LearnedPredictor
from corral.sched.priority import PriorityWeights
from corral.sched.request import Req
from corral.sched.types import Reason

# job_id -> (reason, expected start or None)
Infos = dict[int, tuple[str, float | None]]


@dataclass
class Policy:
    """Base class: the priority weights and the preemption switch every policy has.
    Subclasses implement `plan`."""

    weights: PriorityWeights = field(default_factory=PriorityWeights)
    preemption: bool = False  # stop preemptible lower-tier jobs for a blocked one

    name = "policy"
    uses_predictions = False
    # True when the only reservation a plan books is the first waiting job's
    # (FCFS, EASY): lets a simulator skip jobs that cannot have become startable.
    head_only_reservation = True
    # True when planning more jobs on a machine that already holds the plan of
    # the jobs before them gives the same result as planning all (conservative).
    plan_is_additive = False
    # A simulator runs a pass when a running job's planned end is corrected
    # (True), or leaves it to the next event (False: pyss's EASY++).
    replan_on_correction = False
    # False when no job may start before one ahead of it in the queue (FCFS).
    overtakes = True

    def prepare(self, queue: list[Req], history: dict[str, tuple[float, ...]] | None) -> None:
        """Adjust planning durations before planning (EASY++ predictions);
        `history` (user -> recent runtimes) overrides what the policy recorded."""

    def predicted_end(self, t_start: float, t_expected_end: float, user: str) -> float | None:
        """The end to plan with for a job starting now (EASY++); None: its limit."""
        return None

    def record_finish(self, user: str, runtime_s: float, limit_s: float = math.inf) -> None:
        """Feed a finished job's runtime and requested time (policies that
        predict runtimes use it)."""

    def corrected_end(
        self, t_start: float, t_pred_end: float, now: float, t_limit_end: float
    ) -> float:
        """Where to plan the end of a running job that reached its predicted end
        `t_pred_end` and still runs: its limit (EASY++), or a later guess."""
        return t_limit_end

    def ordered(self, queue: list[Req], now: float) -> list[Req]:
        """The queue in the order `plan` considers it (after `prepare`)."""
        return queue

    def running_at_limits(self, queue: list[Req], now: float, total_procs: int = 0) -> bool:
        """True when this pass must plan the running jobs to end at their
        limits rather than at their planned (predicted) ends; the caller builds
        the machine accordingly. `total_procs`: the machine's processors (0:
        not known)."""
        return False

    def plan(
        self,
        queue: list[Req],
        m: Machine,
        starts: list[tuple[Req, tuple[str, ...]]],
        infos: Infos | None,
    ) -> None:
        raise NotImplementedError


@dataclass
class FCFS(Policy):
    """First come first served in priority order: nothing overtakes the first
    job that cannot start."""

    expected_starts: bool = True  # book every waiting job to report its start
    name = "fcfs"
    overtakes = False

    def plan(
        self,
        queue: list[Req],
        m: Machine,
        starts: list[tuple[Req, tuple[str, ...]]],
        infos: Infos | None,
    ) -> None:
        t_prev = m.now
        blocked = False
        for req in queue:
            if not blocked:
                nodes = m.try_start(req)
                if nodes is not None:
                    starts.append((req, nodes))
                    continue
                if infos is None:
                    return
                blocked = True
                t_prev = m.reserve(req)
                infos[req.job_id] = (Reason.RESOURCES, _finite(t_prev))
            elif infos is None:
                return
            elif self.expected_starts:
                t_prev = m.reserve(req, t_prev) if t_prev < float("inf") else t_prev
                infos[req.job_id] = (Reason.PRIORITY, _finite(t_prev))
            else:
                infos[req.job_id] = (Reason.PRIORITY, None)


@dataclass
class EASY(Policy):
    """EASY backfilling (Lifka; Mu'alem-Feitelson): the first waiting job gets a
    reservation; a later job may start now if that does not delay it (it ends
    before the reservation, or uses only resources the reserved job will not
    need)."""

    name = "easy"

    def backfill_order(self, tail: list[Req]) -> list[Req]:
        return tail

    def plan(
        self,
        queue: list[Req],
        m: Machine,
        starts: list[tuple[Req, tuple[str, ...]]],
        infos: Infos | None,
    ) -> None:
        n = len(queue)
        i = 0
        while i < n:
            req = queue[i]
            nodes = m.try_start(req)
            if nodes is None:
                break
            starts.append((req, nodes))
            i += 1
        if i == n:
            return
        head = queue[i]
        t_shadow = m.reserve(head)
        if infos is not None:
            infos[head.job_id] = (Reason.RESOURCES, _finite(t_shadow))
        tail = queue[i + 1 :]
        if m.exhausted():
            cands: list[Req] = []
        else:
            cands = self.backfill_order(m.candidates(tail))
        k = 0
        n_started = 0
        refilter_at = 1
        while k < len(cands):
            req = cands[k]
            k += 1
            nodes = m.try_start(req)
            if nodes is not None:
                starts.append((req, nodes))
                if m.exhausted():
                    break
                n_started += 1
                if n_started == refilter_at:
                    # less is free now: drop what no longer fits (at doubling
                    # intervals, so a long queue is rescanned O(log starts) times)
                    refilter_at *= 2
                    cands = m.candidates(cands[k:])
                    k = 0
        if infos is not None:
            for req in tail:
                infos.setdefault(req.job_id, (Reason.PRIORITY, None))
            for req, _ in starts:
                infos.pop(req.job_id, None)


@dataclass
class Conservative(Policy):
    """Conservative backfilling: every waiting job, in priority order, gets a
    reservation at the earliest time it fits on the availability timeline; a job
    starts now only if that delays no earlier job's reservation.

    `max_reservations` bounds the work per cycle on long queues (like Slurm's
    bf_max_job_test): after that many reservations, later jobs only start if
    they fit now around all of them, and get no reservation of their own.
    """

    max_reservations: int | None = None
    name = "conservative"
    head_only_reservation = False
    plan_is_additive = True

    def __post_init__(self) -> None:
        self.plan_is_additive = self.max_reservations is None

    def plan(
        self,
        queue: list[Req],
        m: Machine,
        starts: list[tuple[Req, tuple[str, ...]]],
        infos: Infos | None,
    ) -> None:
        first_blocked = True
        budget = self.max_reservations
        for i, req in enumerate(queue):
            if budget is not None and budget <= 0:
                tail = queue[i:]
                if infos is not None:
                    for r in tail:
                        infos[r.job_id] = (Reason.PRIORITY, None)
                if not m.exhausted():
                    for r in m.candidates(tail):
                        nodes = m.try_start(r)
                        if nodes is not None:
                            starts.append((r, nodes))
                            if infos is not None:
                                del infos[r.job_id]
                            if m.exhausted():
                                break
                return
            nodes = m.try_start(req)
            if nodes is not None:
                starts.append((req, nodes))
                continue
            t = m.reserve(req)
            if budget is not None:
                budget -= 1
            if infos is not None:
                reason = Reason.RESOURCES if first_blocked else Reason.PRIORITY
                infos[req.job_id] = (reason, _finite(t))
            first_blocked = False


@dataclass
class EasyPlusPlus(EASY):
    """EASY++ (Tsafrir, Etsion, Feitelson 2007): EASY planned with predicted
    runtimes. A job's prediction is the mean of its user's last two runtimes,
    capped by its limit (the limit while fewer than two are known). A running
    job that outlives its prediction is planned with its limit again. Backfill
    candidates are tried shortest-predicted first. Jobs are still killed at
    their limit (by the caller).

    History is fed explicitly: `record_finish(user, runtime_s)` (the simulator)
    or `Snapshot.user_runtimes_s` (the controller); the latter wins for users
    it names.
    """

    history: dict[str, tuple[float, ...]] = field(default_factory=dict)
    integer_mean: bool = True  # pyss truncates the mean to whole seconds
    name = "easy++"

    def record_finish(self, user: str, runtime_s: float, limit_s: float = math.inf) -> None:
        last = self.history.get(user, ())
        self.history[user] = (*last[-1:], runtime_s)

    def predict_s(
        self, user: str, limit_s: float, history: dict[str, tuple[float, ...]] | None = None
    ) -> float:
        runs = history.get(user) if history else None
        if runs is None:
            runs = self.history.get(user, ())
        if len(runs) < 2:
            return limit_s
        mean = (runs[-1] + runs[-2]) / 2
        if self.integer_mean:
            mean = float(int(mean))
        return min(limit_s, mean)

    uses_predictions = True

    def prepare(self, queue: list[Req], history: dict[str, tuple[float, ...]] | None) -> None:
        for req in queue:
            req.dur_s = self.predict_s(req.user, req.limit_s, history)

    def predicted_end(self, t_start: float, t_expected_end: float, user: str) -> float | None:
        return t_start + self.predict_s(user, t_expected_end - t_start)

    def backfill_order(self, tail: list[Req]) -> list[Req]:
        return sorted(tail, key=_dur_key)


@dataclass
class Predictive(EASY):
    """EASY backfilling planned with learned runtime predictions
    (`predictor`: by default `corral.sched.predict_model.LearnedPredictor`, a
    model fitted on the last jobs that ended; `RuntimePredictor`, the recent
    runtimes per user and requested time, then per user, then per requested
    time), corrected by doubling when a job
    outlives its prediction (never past its limit; jobs are still killed at the
    limit by the caller). Backfill candidates are tried shortest-predicted
    first.

    `order="xfactor"` also reorders the waiting queue by expected slowdown,
    (wait + prediction) / prediction, times 1 + priority / the largest
    weighted sum of the priority factors (so fair-share and the other factors
    still count, up to doubling it), largest first. `order="priority"` keeps
    the queue as given.

    The starvation guard (`protect_starving`): jobs that starve, and jobs
    given an administrator's priority, keep the priority order ahead of all
    others. A job starves once it has waited `starve_waits` times the mean wait
    of the jobs this policy started so far (at least `starve_min_s`; a fixed
    `starve_s` until `starve_warmup` jobs have started, or always when
    `starve_waits` is 0). While one starves:

    - the first `starve_book_max` starving jobs in the given order (default
      1; None: all) go first and each starts or is booked, planned with its
      limit (conservative backfilling among them; `reserve_starving`, else
      only the first gets EASY's reservation); the other starving jobs keep
      their place in the expansion-factor order. When the machine is
      overloaded hundreds of jobs starve at once, and booking them all in
      priority order with their limits stops backfilling (docs/sim.md,
      "Guard storms");
    - with `starving_at_limits` (off by default, for the same reason), the
      running jobs are planned to end at their limits, not their
      predictions (see `running_at_limits`), so an under-predicted running
      job cannot make a booking too early; with `starving_at_limits_share`
      s > 0, only while a starving job asks at least s of the machine's
      processors (a wide job, which waits for most running jobs to end;
      narrow starving jobs, many at once on an overloaded machine, then keep
      the predictions);
    - with `limits_while_starving="crossing"` (the default) every other job
      whose limit would end after the first booking is planned with its
      limit (`"all"`: every other job), so none that overruns its prediction
      can delay a booking; the others keep their predictions (`"none"`:
      every other job keeps its prediction; with the recent-runtimes
      predictor, "crossing" costs too much on an overloaded machine,
      docs/sim.md, "Guard storms").

    With `starve_book_max=None`, `starving_at_limits` and
    `limits_while_starving="crossing"` these keep a
    booking from moving later (unless a job of higher priority starts to
    starve ahead of it, or the threshold rises past its wait): nothing
    started beside it can still run at its booked time (docs/sim.md, "The
    longest wait").
    """

    predictor: RuntimePredictor = field(default_factory=LearnedPredictor)
    order: Literal["priority", "xfactor"] = "xfactor"
    starve_s: float = 2 * 24 * 3600.0
    starve_waits: float = 12.0
    starve_min_s: float = 3600.0
    starve_warmup: int = 100
    correct: bool = True  # False: plan with the limit once a prediction is passed
    protect_starving: bool = True
    reserve_starving: bool = True
    starving_at_limits: bool = False
    # with starving_at_limits: only while a starving job asks at least this share
    # of the machine's processors (0: any starving job)
    starving_at_limits_share: float = 0.0
    limits_while_starving: Literal["none", "crossing", "all"] = "crossing"
    # starving jobs the guard puts first and books per pass, oldest in the
    # given order first (None: all); the others wait in the normal order
    starve_book_max: int | None = 1
    # waiting jobs given an expected start per pass after the first (each costs
    # a reservation search; the rest get none)
    promise_depth: int = 100
    # waits of the jobs started so far (for the starving threshold)
    wait_sum_s: float = field(default=0.0, repr=False)
    n_started: int = field(default=0, repr=False)
    name = "predictive"
    uses_predictions = True
    head_only_reservation = False  # the head changes with the reordering
    replan_on_correction = True  # a later planned end may let a job backfill now

    def __post_init__(self) -> None:
        self.head_only_reservation = self.order == "priority"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Predictive:
        """The policy from a site's settings (`SchedulerConfig.predictive_settings`):
        `Predictive` fields, the predictor given by name ("learned", "recent")."""
        fields = dict(settings)
        name = fields.pop("predictor", None)
        if name is not None:
            fields["predictor"] = PREDICTORS[name]()
        return cls(**fields)

    def record_finish(self, user: str, runtime_s: float, limit_s: float = math.inf) -> None:
        self.predictor.record(user, limit_s, runtime_s)

    def starve_after_s(self) -> float:
        """How long a job waits before it starves (now)."""
        if self.starve_waits <= 0 or self.n_started < self.starve_warmup:
            return self.starve_s
        return max(self.starve_min_s, self.starve_waits * self.wait_sum_s / self.n_started)

    def _starving(self, now: float) -> Callable[[Req], bool]:
        cut = now - self.starve_after_s()
        total = self.weights.total
        return lambda r: r.t_submit <= cut or r.priority > total

    def prepare(self, queue: list[Req], history: dict[str, tuple[float, ...]] | None) -> None:
        predict = self.predictor.predict
        known = self.predictor.memo  # the same answers, without the call
        for req in queue:
            d = known.get((req.user, req.limit_s))
            req.dur_s = predict(req.user, req.limit_s) if d is None else d

    def predicted_end(self, t_start: float, t_expected_end: float, user: str) -> float | None:
        return t_start + self.predictor.predict(user, t_expected_end - t_start)

    def corrected_end(
        self, t_start: float, t_pred_end: float, now: float, t_limit_end: float
    ) -> float:
        if not self.correct:
            return t_limit_end
        return doubled_end(t_start, t_pred_end, now, t_limit_end)

    def _any_starving(self, queue: list[Req], now: float) -> bool:
        """Whether some job of `queue` starves (`_starving`), in C loops."""
        if not queue:
            return False
        t_oldest: float = min(map(_submit_of, queue))
        if t_oldest <= now - self.starve_after_s():
            return True
        top: float = max(map(_priority_of, queue))
        return top > self.weights.total

    def running_at_limits(self, queue: list[Req], now: float, total_procs: int = 0) -> bool:
        if not (self.protect_starving and self.starving_at_limits):
            return False
        if not self._any_starving(queue, now):
            return False
        share = self.starving_at_limits_share
        if share <= 0 or total_procs <= 0:
            return True
        # only while a wide job starves: one that needs most running jobs to end
        need = share * total_procs
        starving = self._starving(now)
        return any(r.procs >= need and starving(r) for r in queue)

    def ordered(self, queue: list[Req], now: float) -> list[Req]:
        if self.order != "xfactor" or len(queue) < 2:
            return queue
        total = self.weights.total
        if self._any_starving(queue, now):
            starving = self._starving(now)
            first = [r for r in queue if starving(r)]
            cap = self.starve_book_max
            if cap is not None and len(first) > cap:
                first = first[:cap]
                kept = {id(r) for r in first}
                rest = [r for r in queue if id(r) not in kept]
            else:
                rest = [r for r in queue if not starving(r)]
        else:
            first, rest = [], queue[:]
        # minus the expansion factor, (wait + planned) / planned; an unlimited
        # job's is 1 (it never gains on others)
        if total > 0 and any(map(_priority_of, rest)):
            rest.sort(
                key=lambda r: (
                    ((r.t_submit - now) / (r.dur_s or 1.0) - 1.0)
                    * (1.0 + max(r.priority, 0.0) / total)
                )
            )
        else:
            rest.sort(key=lambda r: (r.t_submit - now) / (r.dur_s or 1.0) - 1.0)
        return first + rest

    def plan(
        self,
        queue: list[Req],
        m: Machine,
        starts: list[tuple[Req, tuple[str, ...]]],
        infos: Infos | None,
    ) -> None:
        queue = self.ordered(queue, m.now)
        rest = queue
        n_before = len(starts)
        if self.protect_starving and queue and self._starving(m.now)(queue[0]):
            if self.reserve_starving:
                rest, t_first = self._reserve_starving(queue, m, starts, infos)
                crossing = self.limits_while_starving == "crossing"
                if self.limits_while_starving != "none":
                    for r in rest:
                        if not crossing or m.now + r.limit_s > t_first:
                            r.dur_s = r.limit_s
            else:
                for r in queue:
                    r.dur_s = r.limit_s
        if rest:
            super().plan(rest, m, starts, infos)
        for r, _ in starts[n_before:]:
            self.wait_sum_s += m.now - r.t_submit
        self.n_started += len(starts) - n_before
        if infos is None or self.promise_depth <= 0:
            return
        # every waiting job's expected start: the rest of the queue booked in
        # order after the plan, with the same predictions (what would happen if
        # nothing else arrived); only where reasons are asked for
        started = {id(r) for r, _ in starts}
        n = 0
        for r in queue:
            info = infos.get(r.job_id)
            if id(r) in started or info is None or info[1] is not None:
                continue
            if n >= self.promise_depth:
                break
            n += 1
            infos[r.job_id] = (info[0], _finite(m.reserve(r)))

    def _reserve_starving(
        self,
        queue: list[Req],
        m: Machine,
        starts: list[tuple[Req, tuple[str, ...]]],
        infos: Infos | None,
    ) -> tuple[list[Req], float]:
        """Start or book (with its limit) each starving job at the front of
        `queue`, in order; return the jobs after them and the earliest booking
        (inf: none)."""
        starving = self._starving(m.now)
        k = 0
        t_first = math.inf
        cap = math.inf if self.starve_book_max is None else self.starve_book_max
        for req in queue:
            if k >= cap or not starving(req):
                break
            k += 1
            req.dur_s = req.limit_s
            nodes = m.try_start(req)
            if nodes is not None:
                starts.append((req, nodes))
                continue
            t = m.reserve(req)
            t_first = min(t_first, t)
            if infos is not None:
                reason = Reason.RESOURCES if k == 1 else Reason.PRIORITY
                infos[req.job_id] = (reason, _finite(t))
        return queue[k:], t_first


_priority_of = attrgetter("priority")
_submit_of = attrgetter("t_submit")


def _dur_key(req: Req) -> float:
    return req.dur_s


def _finite(t: float) -> float | None:
    return t if t < float("inf") else None


POLICIES: dict[str, type[Policy]] = {
    "fcfs": FCFS,
    "easy": EASY,
    "conservative": Conservative,
    "easy++": EasyPlusPlus,
    "predictive": Predictive,
}

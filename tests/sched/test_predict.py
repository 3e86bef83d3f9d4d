"""Runtime prediction and the predictive policy (corral.sched.predict, Predictive)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.sched import Req, RunningView, run_cycle
from corral.sched.count_machine import CountMachine
from corral.sched.policies import EasyPlusPlus, Predictive
from corral.sched.predict import RuntimePredictor, corrected_end
from corral.sched.predict_model import LearnedPredictor

from .helpers import node, pend, snap


def test_no_history_predicts_the_request() -> None:
    p = RuntimePredictor()
    assert p.predict("u", 3600.0) == 3600.0
    assert p.predict("u", math.inf) == math.inf


def test_the_finest_group_with_enough_history_wins() -> None:
    p = RuntimePredictor()
    p.record("u", 3600.0, 100.0)
    assert p.predict("u", 3600.0) == 3600.0  # one runtime is not enough
    p.record("u", 3600.0, 300.0)
    assert p.predict("u", 3600.0) == 200.0  # (user, request): mean of the last two
    p.record("u", 600.0, 500.0)
    # another request of the same user: the user's last two (300, 500)
    assert p.predict("u", 7200.0) == 400.0
    # the user's (u, 600) group has one runtime: the user's group answers
    assert p.predict("u", 600.0) == 400.0
    # a user never seen, asking a known request: that request's last two
    assert p.predict("w", 3600.0) == 200.0
    assert p.predict("w", 60.0) == 60.0  # nothing known: the request


def test_prediction_is_capped_by_the_request_and_floored_at_a_second() -> None:
    p = RuntimePredictor()
    for run_s in (5000.0, 5000.0):
        p.record("u", 10_000.0, run_s)
    assert p.predict("u", 1000.0) == 1000.0
    q = RuntimePredictor()
    q.record("u", 50.0, 0.0)
    q.record("u", 50.0, 0.0)
    assert q.predict("u", 50.0) == 1.0


def test_request_keys_ignore_clock_rounding() -> None:
    p = RuntimePredictor()
    t0 = 1_700_000_000.123
    for run_s in (10.0, 30.0):
        p.record("u", 600.0, run_s)
    assert p.predict("u", (t0 + 600.0) - t0) == 20.0


def test_corrected_end_doubles_the_prediction_up_to_the_limit() -> None:
    # started at 100, predicted 50 s, limit 1000 s
    assert corrected_end(100.0, 150.0, 120.0, 1100.0) == 150.0  # not passed yet
    assert corrected_end(100.0, 150.0, 150.0, 1100.0) == 200.0
    assert corrected_end(100.0, 150.0, 260.0, 1100.0) == 300.0
    assert corrected_end(100.0, 150.0, 700.0, 1100.0) == 900.0
    assert corrected_end(100.0, 150.0, 900.0, 1100.0) == 1100.0  # capped
    assert corrected_end(100.0, 100.0, 100.5, 1100.0) == 101.0  # a 0 s guess: 1 s


def test_easy_plus_plus_still_jumps_to_the_limit() -> None:
    assert EasyPlusPlus().corrected_end(0.0, 50.0, 60.0, 1000.0) == 1000.0
    assert Predictive(correct=False).corrected_end(0.0, 50.0, 60.0, 1000.0) == 1000.0
    assert Predictive().corrected_end(0.0, 50.0, 60.0, 1000.0) == 100.0


def reqs(*spec: tuple[int, float, float]) -> list[Req]:
    """(job id, submit, planning duration)"""
    out = []
    for job_id, t_submit, dur in spec:
        r = Req(job_id, 1, 10_000.0, t_submit)
        r.dur_s = dur
        out.append(r)
    return out


def test_xfactor_order_puts_the_most_slowed_down_first() -> None:
    pol = Predictive(starve_s=10_000.0)
    q = reqs((1, 0.0, 1000.0), (2, 500.0, 10.0), (3, 900.0, 100.0))
    # at 1000: x = (1000+1000)/1000 = 2, (500+10)/10 = 51, (100+100)/100 = 2 (tie: queue order)
    assert [r.job_id for r in pol.ordered(q, 1000.0)] == [2, 1, 3]
    assert [r.job_id for r in Predictive(order="priority").ordered(q, 1000.0)] == [1, 2, 3]


def test_starving_jobs_keep_priority_order_ahead_of_all() -> None:
    pol = Predictive(starve_s=600.0)
    # 1 waited 1000 s (starving) and goes first though its expansion factor
    # (1.2) is the smallest; then 3 (x = 101) before 2 (x = 1.1)
    q = reqs((1, 0.0, 5000.0), (2, 500.0, 5000.0), (3, 900.0, 1.0))
    assert [r.job_id for r in pol.ordered(q, 1000.0)] == [1, 3, 2]
    q = reqs((1, 0.0, 5000.0), (2, 300.0, 5000.0), (3, 900.0, 1.0))
    # 2 starves too, but only the first starving job goes first (starve_book_max)
    assert [r.job_id for r in pol.ordered(q, 1000.0)] == [1, 3, 2]
    pol = Predictive(starve_s=600.0, starve_book_max=None)
    assert [r.job_id for r in pol.ordered(q, 1000.0)] == [1, 2, 3]


def test_priority_weighs_the_expansion_factor() -> None:
    pol = Predictive(starve_s=10_000.0)
    q = reqs((1, 0.0, 100.0), (2, 0.0, 100.0))
    q[1].priority = 500.0  # e.g. its account is under-served (of 1000 at most)
    assert [r.job_id for r in pol.ordered(q, 100.0)] == [2, 1]
    q[1].priority = 0.01  # a difference of age only: equal up to rounding
    assert [r.job_id for r in pol.ordered(q, 100.0)] == [2, 1]
    q[0].priority = 0.02
    assert [r.job_id for r in pol.ordered(q, 100.0)] == [1, 2]
    q[0].priority = 2000.0  # an administrator's priority: first whatever else
    q[0].dur_s = 10_000.0
    assert [r.job_id for r in pol.ordered(q, 100.0)] == [1, 2]


def test_a_short_job_waiting_behind_a_long_one_goes_first() -> None:
    nodes = [node("a", 1)]
    pending = [pend(1, limit_s=2000.0, t_submit=0), pend(2, limit_s=1000.0, t_submit=1, user="v")]
    pol = Predictive()
    for _ in range(2):
        pol.record_finish("v", 10.0, 1000.0)
    d = run_cycle(snap(nodes, [], pending), pol, now=2.0)
    assert [s.job_id for s in d.starts] == [2]
    d = run_cycle(snap(nodes, [], pending), EasyPlusPlus(), now=2.0)
    assert [s.job_id for s in d.starts] == [1]


def test_a_running_job_past_its_prediction_is_planned_at_the_doubled_guess() -> None:
    # half of node a is busy until the running job ends; job 2 (all 4 cpus) is
    # reserved then; job 3 (1 cpu, 300 s) may backfill only if it ends before.
    nodes = [node("a", 4, used=(2, 0, 0))]
    running = [RunningView(9, ("a",), 2, 0, 0, 0.0, 10_000.0, t_predicted_end=100.0, user="r")]
    pending = [pend(2, cpus=4, limit_s=1000.0, t_submit=0, user="x"),
               pend(3, cpus=1, limit_s=300.0, t_submit=1, user="y")]
    pol = Predictive(order="priority")
    # at 150 the guess is 200: job 3 (ends at 450) would delay job 2
    assert run_cycle(snap(nodes, running, pending), pol, now=150.0).starts == ()
    # at 500 the guess is 800: job 3 ends at 800, in time
    d = run_cycle(snap(nodes, running, pending), pol, now=500.0)
    assert [s.job_id for s in d.starts] == [3]
    assert d.pending[2].t_expected_start == 800.0
    # EASY++ plans it with its limit at once
    d = run_cycle(snap(nodes, running, pending), EasyPlusPlus(), now=150.0)
    assert [s.job_id for s in d.starts] == [3]
    assert d.pending[2].t_expected_start == 10_000.0


def test_every_waiting_job_gets_an_expected_start_from_the_predictions() -> None:
    nodes = [node("a", 1, used=(1, 0, 0))]
    running = [RunningView(9, ("a",), 1, 0, 0, 0.0, 1000.0, t_predicted_end=100.0, user="r")]
    pending = [pend(i, limit_s=1000.0, t_submit=float(i), user=f"u{i}") for i in (1, 2, 3)]
    pol = Predictive()
    for user in ("u1", "u2", "u3"):
        for _ in range(2):
            pol.record_finish(user, 50.0, 1000.0)
    d = run_cycle(snap(nodes, running, pending), pol, now=10.0)
    # predicted: 9 ends at 100, then 50 s each, in the predictive order (the
    # latest arrival has waited least: 1, 2, 3)
    assert [d.pending[i].t_expected_start for i in (1, 2, 3)] == [100.0, 150.0, 200.0]
    assert [d.pending[i].reason for i in (1, 2, 3)] == ["Resources", "Priority", "Priority"]
    # one job after the head; no history here: planned with its 1000 s limit
    d = run_cycle(snap(nodes, running, pending), Predictive(promise_depth=1), now=10.0)
    assert [d.pending[i].t_expected_start for i in (1, 2, 3)] == [100.0, 1100.0, None]
    d = run_cycle(snap(nodes, running, pending), EasyPlusPlus(), now=10.0)
    assert [d.pending[i].t_expected_start for i in (1, 2, 3)] == [100.0, None, None]


def test_the_starving_threshold_follows_the_mean_wait() -> None:
    pol = Predictive(starve_s=5000.0, starve_waits=12.0, starve_min_s=600.0, starve_warmup=2)
    assert pol.starve_after_s() == 5000.0  # fixed until 2 jobs have started
    q = reqs((1, 0.0, 10.0), (2, 100.0, 10.0), (3, 150.0, 10_000.0))
    starts: list[tuple[Req, tuple[str, ...]]] = []
    pol.plan(q[:2], CountMachine(2, 2, [], 200.0), starts, None)
    assert pol.n_started == 2 and pol.wait_sum_s == 300.0
    assert pol.starve_after_s() == 12 * 150.0  # 12 x the mean wait
    # job 3 (expansion factor 1.2 against job 4's 10) starves at 150 + 1800
    assert [r.job_id for r in pol.ordered([*reqs((4, 1940.0, 1.0)), q[2]], 1949.0)] == [4, 3]
    assert [r.job_id for r in pol.ordered([*reqs((4, 1940.0, 1.0)), q[2]], 1950.0)] == [3, 4]
    pol.wait_sum_s = 0.0
    assert pol.starve_after_s() == 600.0  # never below starve_min_s
    assert Predictive(starve_s=5000.0, starve_waits=0.0, n_started=500).starve_after_s() == 5000.0


def test_a_starving_jobs_booking_is_planned_with_the_running_jobs_limits() -> None:
    # 5 cpus: job 9 (2 cpus) is predicted to end at 100 but may run to 10,000;
    # job 8 (1 cpu) ends at 1000. Job 2 (3 cpus) starves; job 3 (1 cpu,
    # 5000 s) arrives.
    nodes = [node("a", 5, used=(3, 0, 0))]
    running = [
        RunningView(9, ("a",), 2, 0, 0, 0.0, 10_000.0, t_predicted_end=100.0, user="r"),
        RunningView(8, ("a",), 1, 0, 0, 0.0, 1000.0, user="s"),
    ]
    pending = [pend(2, cpus=3, limit_s=100.0, t_submit=0, user="x"),
               pend(3, cpus=1, limit_s=5000.0, t_submit=50, user="y")]
    guard = dict(starve_s=10.0, starve_waits=0.0)
    # with the prediction, job 2 is booked at 100 with a processor to spare,
    # which job 3 takes until 5050: if job 9 runs long, job 2 waits for it
    d = run_cycle(snap(nodes, running, pending), Predictive(**guard, starving_at_limits=False),
                  now=50.0)
    assert [s.job_id for s in d.starts] == [3]
    assert d.pending[2].t_expected_start == 100.0
    # with the running jobs at their limits it is booked at 1000 on all three
    # free processors, so job 3 waits (not the default: docs/sim.md, "Guard storms")
    d = run_cycle(snap(nodes, running, pending), Predictive(**guard, starving_at_limits=True),
                  now=50.0)
    assert d.starts == ()
    assert d.pending[2].t_expected_start == 1000.0
    # nobody starving: predictions as usual
    assert Predictive(**guard, starving_at_limits=True).running_at_limits(
        reqs((1, 45.0, 1.0)), 50.0
    ) is False
    # only while a wide job starves: job 2 asks 3 of the 5 cpus
    for share, booked in ((0.6, 1000.0), (0.61, 100.0)):
        pol = Predictive(**guard, starving_at_limits=True, starving_at_limits_share=share)
        d = run_cycle(snap(nodes, running, pending), pol, now=50.0)
        assert d.pending[2].t_expected_start == booked
    wide = Predictive(**guard, starving_at_limits=True, starving_at_limits_share=0.5)
    narrow = reqs((1, 0.0, 1.0))  # one processor, starving at 50
    assert wide.running_at_limits(narrow, 50.0, total_procs=4) is False
    assert wide.running_at_limits(narrow, 50.0, total_procs=2) is True
    assert wide.running_at_limits(narrow, 50.0) is True  # the machine's size unknown


# ---- the learned model (corral.sched.predict_model) -------------------------


def _feed(p: RuntimePredictor, n: int) -> None:
    """`n` finished jobs of two users asking an hour: a's run a tenth of it, b's
    nine tenths (within ±10 %)."""
    for i in range(n):
        user, frac = ("a", 0.1) if i % 2 else ("b", 0.9)
        p.record(user, 3600.0, 3600.0 * frac * (0.9 + 0.2 * ((i * 7) % 11) / 10))


def test_the_learned_model_answers_as_the_recent_runtimes_until_it_is_fitted() -> None:
    learned, recent = LearnedPredictor(), RuntimePredictor()
    for p in (learned, recent):
        _feed(p, 199)
    assert learned.coef is None and learned.n_fits == 0
    for user, limit_s in (("a", 3600.0), ("b", 3600.0), ("c", 60.0), ("a", math.inf)):
        assert learned.predict(user, limit_s) == recent.predict(user, limit_s)


def test_the_learned_model_is_fitted_every_refit_every_jobs_on_the_last_train_rows() -> None:
    p = LearnedPredictor(refit_every=100, train_rows=300, min_rows=150)
    _feed(p, 99)
    assert p.n_fits == 0
    _feed(p, 1)
    assert p.n_fits == 0  # 100 rows: fewer than min_rows
    _feed(p, 100)
    assert p.n_fits == 1
    _feed(p, 800)
    assert p.n_fits == 9 and len(p.rows_x) == len(p.rows_y) == 300
    assert p.coef is not None and len(p.coef[1]) == len(p.rows_x[0])


def test_a_fitted_model_predicts_each_users_share_of_the_request() -> None:
    p, recent = LearnedPredictor(), RuntimePredictor()
    _feed(p, 1000)
    _feed(recent, 1000)
    assert p.n_fits == 5
    assert 250.0 <= p.predict("a", 3600.0) <= 500.0  # runs 324-396 s
    assert 2600.0 <= p.predict("b", 3600.0) <= 3600.0  # 2916-3564 s
    # a user seen only through others asking the same: between the two
    assert 300.0 <= p.predict("new", 3600.0) <= 3600.0
    # never above the request, never below a second; unlimited: the recent runtimes'
    assert p.predict("b", 100.0) <= 100.0
    assert p.predict("a", 1.0) == 1.0
    assert p.predict("a", math.inf) == recent.predict("a", math.inf) < math.inf


def test_two_learned_models_fed_the_same_jobs_predict_the_same() -> None:
    p, q = LearnedPredictor(), LearnedPredictor()
    _feed(p, 600)
    _feed(q, 600)
    assert p.coef == q.coef
    assert p.predict("a", 3600.0) == q.predict("a", 3600.0)


def test_the_predictive_policy_learns_by_default_and_takes_its_predictor_by_name() -> None:
    assert isinstance(Predictive().predictor, LearnedPredictor)
    pol = Predictive.from_settings({"predictor": "recent", "starve_waits": 8.0})
    assert type(pol.predictor) is RuntimePredictor and pol.starve_waits == 8.0


_ops = st.lists(
    st.tuples(st.booleans(), st.sampled_from(["u", "v", "w", ""]),
              st.sampled_from([60.0, 3600.0, 3600.4, 7200.0, math.inf]),
              st.floats(0.0, 10_000.0)),
    max_size=120)


@settings(max_examples=200, deadline=None)
@given(_ops, st.booleans())
def test_a_memoized_prediction_is_always_the_one_computed_afresh(
        ops: list[tuple[bool, str, float, float]], learned: bool) -> None:
    """Records drop only the memo entries of their user and requested time; every
    answer equals the prediction computed from the history as it stands."""
    p = (LearnedPredictor(refit_every=7, min_rows=5, train_rows=20) if learned
         else RuntimePredictor())
    for is_record, user, limit_s, run_s in ops:
        if is_record:
            p.record(user, limit_s, run_s)
        else:
            assert p.predict(user, limit_s) == p._predict(user, limit_s)
    for user in ("u", "v", "w", ""):
        for limit_s in (60.0, 3600.0, 3600.4, 7200.0, math.inf):
            assert p.predict(user, limit_s) == p._predict(user, limit_s)


def test_the_memos_indexes_stay_bounded_however_long_it_runs() -> None:
    """Records of one user keep dropping (then re-adding) another group's keys from
    the user index only; each index holds a key once, however often it comes back."""
    p = RuntimePredictor()
    for i in range(4321):
        p.record("u", 60.0, float(i % 50))
        p.predict("u", 7200.0)  # read by a user that keeps finishing jobs
        p.predict("v", 7200.0)  # a request nobody finishes: its key list grows
        assert p.predict("u", 7200.0) == p._predict("u", 7200.0)
    n_indexed = sum(map(len, p.memo_of_limit.values())) + sum(map(len, p.memo_of_user.values()))
    assert n_indexed <= 4  # ("u", 7200) and ("v", 7200), by user and by requested time

"""One scheduling cycle: snapshot in, decisions out. Pure: no I/O, no clock."""

from __future__ import annotations

import math
from collections.abc import Callable

from corral.model.errors import InvalidRequest
from corral.sched.constraint import compile_constraint
from corral.sched.count_machine import CountMachine
from corral.sched.fairshare import fairshare_factors
from corral.sched.licenses import LicensePool
from corral.sched.limits import Tally
from corral.sched.node_machine import NodeMachine
from corral.sched.policies import Infos, Policy
from corral.sched.preempt import plan_preemption
from corral.sched.priority import Factors, Scorer
from corral.sched.request import Req
from corral.sched.site_fairshare import SiteShares
from corral.sched.site_limits import SiteTally
from corral.sched.types import Decisions, PendingInfo, PendingView, Reason, Snapshot, Start

INF = math.inf
_SITE_REPLANS = 3  # plans again when starts went over a site's limits, at most


def _limit(t: float) -> float:
    return INF if t <= 0 else t


def _planned_end(
    policy: Policy, t_start: float, r_end: float, r_pred: float | None, now: float
) -> float:
    if policy.uses_predictions and r_pred is not None:
        if r_pred > now:
            return min(r_pred, r_end)
        return policy.corrected_end(t_start, r_pred, now, r_end)
    return r_end


def node_machine(
    snapshot: Snapshot, policy: Policy, now: float, at_limits: bool = False
) -> NodeMachine:
    """The nodes as they are now, with the planned ends of the running jobs (their
    limits with `at_limits`) and the advance reservations."""
    releases = [
        (
            r.nodes,
            r.t_expected_end
            if at_limits
            else _planned_end(policy, r.t_start, r.t_expected_end, r.t_predicted_end, now),
            None if r.exclusive else (r.cpus_per_node, r.mem_mb_per_node, r.gpus_per_node),
        )
        for r in snapshot.running
    ]
    blocks = [(r.nodes, r.t_start, r.t_end, r.name) for r in snapshot.reservations]
    gres = [(r.nodes, _planned_end(policy, r.t_start, r.t_expected_end, r.t_predicted_end, now),
             r.gres_per_node) for r in snapshot.running if r.gres_per_node]
    cpu_ends = {
        r.job_id: r.t_expected_end if at_limits
        else _planned_end(policy, r.t_start, r.t_expected_end, r.t_predicted_end, now)
        for r in snapshot.running
    } if any(n.cpus_held for n in snapshot.nodes) else None
    return NodeMachine(snapshot.nodes, releases, now, blocks, gres, cpu_ends)


def _fairshare_of(job: PendingView, tree: dict[tuple[str, str], float],
                  flat: dict[str, float]) -> float:
    """The job's fair-share factor: its association's in the account tree (else its
    account's there), else the flat one of its account or user; 1 without any."""
    if tree and job.account is not None:
        f = tree.get((job.account, job.user))
        if f is None:
            f = tree.get((job.account, ""))
        if f is not None:
            return f
    return flat.get(job.account or job.user, 1.0) if flat else 1.0


def run_cycle(snapshot: Snapshot, policy: Policy, now: float) -> Decisions:
    """Decide which pending jobs start now and where; give every other pending
    job a reason and, when the policy can compute one, an expected start."""
    resvs = {r.name: r for r in snapshot.reservations}
    m = node_machine(snapshot, policy, now)
    total_cpus = sum(n.cpus for n in snapshot.nodes)
    parts = snapshot.partitions
    max_tier = max((p.priority_tier for p in parts.values()), default=0)
    w = policy.weights
    fs = (
        fairshare_factors(snapshot.usage_cpu_s, snapshot.shares)
        if w.fairshare and (snapshot.usage_cpu_s or snapshot.shares)
        else {}
    )
    qmax = max(snapshot.qos_priority.values(), default=0.0)
    score = Scorer(w, now=now, total_cpus=total_cpus, max_tier=max_tier)

    pending: dict[int, PendingInfo] = {}
    queue: list[Req] = []
    prio: dict[int, float] = {}
    parts_of: dict[int, Factors] = {}

    def hold(job: PendingView, reason: str, t: float | None = None) -> None:
        pending[job.job_id] = PendingInfo(job.job_id, reason, prio[job.job_id], t)

    ending = [(n.name, n.t_deadline) for n in snapshot.nodes if n.t_deadline < INF]
    sites = SiteTally(snapshot.site_limits, snapshot.nodes, snapshot.running)
    site_fs = (SiteShares(snapshot.site_fairshare, snapshot.nodes)
               if w.fairshare and snapshot.site_fairshare else None)
    for job in snapshot.pending:
        part = parts.get(job.partition)
        fair = _fairshare_of(job, snapshot.assoc_fairshare, fs)
        if site_fs is not None:
            fair = site_fs.factor(job, part, fair)
        f = score(
            job.t_submit,
            job.nodes * job.cpus_per_node,
            part.priority_tier if part else 0,
            job.nice,
            job.admin_priority,
            fair,
            snapshot.qos_priority.get(job.qos, 0.0) / qmax if job.qos and qmax > 0 else 0.0,
        )
        prio[job.job_id] = f.total
        parts_of[job.job_id] = f
        if job.held:
            hold(job, Reason.HELD)
            continue
        if job.nodes < 1 or job.cpus_per_node < 1:
            hold(job, Reason.PARTITION_NODE_LIMIT)
            continue
        if part is None:
            hold(job, Reason.NO_PARTITION)
            continue
        limit = _limit(job.time_limit_s)
        if limit > _limit(part.max_time_s):
            hold(job, Reason.PARTITION_TIME_LIMIT)
            continue
        try:
            pred = compile_constraint(job.constraint) if job.constraint else None
        except InvalidRequest:
            hold(job, Reason.BAD_CONSTRAINTS)
            continue
        node_names = part.nodes - job.excluded_nodes if job.excluded_nodes else part.nodes
        if job.eligible_nodes is not None:  # its Requirements, evaluated by the controller
            node_names = node_names & job.eligible_nodes
            if not node_names:
                hold(job, Reason.BAD_CONSTRAINTS)
                continue
        if ending:  # pilots: only those that outlive the job's time limit
            short = {name for name, t in ending if now + limit > t}
            if short and node_names & short:
                node_names = node_names - short
                if len(node_names) < job.nodes:
                    hold(job, Reason.NODE_DEADLINE)
                    continue
        window = None
        if job.reservation is not None:
            r = resvs.get(job.reservation)
            allowed = r is not None and (
                (not r.users and not r.accounts)
                or job.user in r.users
                or (job.account is not None and job.account in r.accounts)
            )
            if r is None or not allowed or limit > r.t_end - max(now, r.t_start):
                hold(job, Reason.BAD_RESERVATION)
                continue
            if r.t_start > now:
                hold(job, Reason.RESERVATION, r.t_start)
                continue
            node_names = node_names & r.nodes
            window = (r.t_start, r.t_end)
        if not job.required_nodes <= node_names or len(job.required_nodes) > job.nodes:
            hold(job, Reason.NODES_UNAVAILABLE if job.reservation is None
                 else Reason.BAD_RESERVATION)
            continue
        req = Req(
            job.job_id,
            job.nodes * job.cpus_per_node,
            limit,
            job.t_submit,
            job.user,
            nodes=job.nodes,
            cpus=job.cpus_per_node,
            mem_mb=job.mem_mb_per_node,
            gpus=job.gpus_per_node,
            exclusive=job.exclusive,
            feature_ok=pred,
            node_names=node_names,
            priority=prio[job.job_id],
            resv=job.reservation,
            resv_window=window,
            required=job.required_nodes,
            rank=dict(job.node_rank) if job.node_rank else None,
            gres=job.gres_per_node,
            core_type=job.core_type,
            bind=(job.cpu_bind, job.prefer_core_type, job.gres_flags),
        )
        if not m.could_ever_fit(req):
            if m.could_fit_if_all_up(req):
                hold(job, Reason.NODES_UNAVAILABLE)
            else:
                hold(job, Reason.PARTITION_NODE_LIMIT)
            continue
        if job.t_begin is not None and job.t_begin > now:
            hold(job, Reason.BEGIN_TIME, job.t_begin)
            continue
        closed = sites.closed(job)
        if closed:  # sites where its owner is at a limit: the others, or wait
            shut = frozenset().union(*(names for _, names in closed))
            req.node_names = node_names - shut
            if job.required_nodes & shut or not m.could_ever_fit(req):
                hold(job, closed[0][0])
                continue
        queue.append(req)

    # Jobs of higher-tier partitions go first whatever their priority (as Slurm's
    # PriorityTier): otherwise a preempted job would win its nodes straight back.
    if len({p.priority_tier for p in parts.values()}) > 1:
        tier_of_job = {j.job_id: parts[j.partition].priority_tier
                       for j in snapshot.pending if j.partition in parts}
        queue.sort(key=lambda r: (-tier_of_job.get(r.job_id, 0), *_order_key(r)))
    else:
        queue.sort(key=_order_key)
    tally = Tally(snapshot.limits, snapshot.running)
    if tally.active:
        views = {j.job_id: j for j in snapshot.pending}
        admitted = []
        for req in queue:
            over = tally.admit(views[req.job_id])
            if over is None:
                admitted.append(req)
            else:
                hold(views[req.job_id], over)
        queue = admitted
    pool = LicensePool(snapshot.licenses, snapshot.running)
    if pool.active and any(j.licenses for j in snapshot.pending):
        views = {j.job_id: j for j in snapshot.pending}
        granted = []
        for req in queue:
            if pool.admit(views[req.job_id]):
                granted.append(req)
            else:
                hold(views[req.job_id], Reason.LICENSES)
        queue = granted
    policy.prepare(queue, snapshot.user_runtimes_s or None)
    at_limits = policy.running_at_limits(
        queue, now, sum(n.cpus for n in snapshot.nodes if n.available))
    if at_limits:
        m = node_machine(snapshot, policy, now, at_limits=True)
    starts: list[tuple[Req, tuple[str, ...]]] = []
    infos: Infos = {}
    policy.plan(queue, m, starts, infos)
    if sites.active and starts:
        queue, starts, infos, refused, m = _within_site_limits(
            snapshot, policy, now, at_limits, sites, queue, starts, infos, m)
        views = {j.job_id: j for j in snapshot.pending}
        for job_id, over in refused.items():
            hold(views[job_id], over)
    started = {req.job_id for req, _ in starts}
    preempt: tuple[int, ...] = ()
    preemptor: int | None = None
    if policy.preemption and snapshot.running:
        tier = {p.name: p.priority_tier for p in parts.values()}
        part_of = {j.job_id: j.partition for j in snapshot.pending}
        blocked = [(r, tier[part_of[r.job_id]]) for r in queue if r.job_id not in started]
        qos_of = {j.job_id: j.qos for j in snapshot.pending}
        found = plan_preemption(snapshot, now, blocked, starts, qos_of)
        if found is not None:
            infos[found[0]] = (Reason.PREEMPTING, now)
            preemptor, preempt = found
    for req in queue:
        if req.job_id in started:
            continue
        reason, t = infos.get(req.job_id, (Reason.PRIORITY, None))
        pending[req.job_id] = PendingInfo(req.job_id, reason, req.priority, t)
    placed = m.placed
    return Decisions(
        starts=tuple(Start(req.job_id, nodes, tuple(
            (name, *placed[req.job_id][name]) for name in nodes
            if name in placed.get(req.job_id, {}))) for req, nodes in starts),
        pending=pending,
        preempt=preempt,
        preemptor=preemptor,
        factors=parts_of,
    )


Starts = list[tuple[Req, tuple[str, ...]]]


def _within_site_limits(
    snapshot: Snapshot, policy: Policy, now: float, at_limits: bool, sites: SiteTally,
    queue: list[Req], starts: Starts, infos: Infos, m: NodeMachine,
) -> tuple[list[Req], Starts, Infos, dict[int, str], NodeMachine]:
    """The planned starts admitted in order against the sites' limits. A job whose
    start would go over one is planned again without that site (the whole queue, on
    a fresh machine, at most _SITE_REPLANS times); one left with too few nodes is
    taken out of the queue. Returns the queue, starts and infos of the last plan,
    the jobs taken out with the limit they wait for, and the last plan's machine."""
    views = {j.job_id: j for j in snapshot.pending}
    refused: dict[int, str] = {}
    for replan in range(_SITE_REPLANS + 1):
        room = sites.copy()
        kept: Starts = []
        dropped: list[tuple[Req, str]] = []
        for req, nodes in starts:
            over = room.admit(views[req.job_id], nodes)
            if over is None:
                kept.append((req, nodes))
            else:
                dropped.append((req, over))
        if not dropped or replan == _SITE_REPLANS:
            for req, over in dropped:
                infos[req.job_id] = (over, None)
            return queue, kept, infos, refused, m
        for req, over in dropped:
            names = req.node_names
            if names is not None:
                req.node_names = names - sites.nodes_of[over.split(":", 1)[1]]
                if len(req.node_names) < req.nodes:
                    refused[req.job_id] = over
        queue = [r for r in queue if r.job_id not in refused]
        m = node_machine(snapshot, policy, now, at_limits=at_limits)
        starts, infos = [], {}
        policy.plan(queue, m, starts, infos)
    return queue, starts, infos, refused, m  # not reached: the last round returns


def _order_key(req: Req) -> tuple[float, float, int]:
    return (-req.priority, req.t_submit, req.job_id)


def run_cycle_counts(
    total_procs: int,
    free_procs: int,
    ends: list[tuple[float, int]],
    queue: list[Req],
    policy: Policy,
    now: float,
    infos: Infos | None = None,
) -> list[Req]:
    """The fast path for one resource (a processor count), used by the
    simulator: same policy code, a `CountMachine` instead of nodes.

    `ends`: sorted (planned end, procs) of the running jobs (extended in place
    with the jobs started). `queue`: in priority order. Returns the jobs to
    start now, in the order the policy chose them.
    """
    return plan_counts(total_procs, free_procs, ends, queue, policy, now, infos)[0]


def plan_counts(
    total_procs: int,
    free_procs: int,
    ends: list[tuple[float, int]],
    queue: list[Req],
    policy: Policy,
    now: float,
    infos: Infos | None = None,
    head_starts_use_limit: bool = False,
    limit_ends: Callable[[], tuple[int, list[tuple[float, int]]]] | None = None,
) -> tuple[list[Req], CountMachine]:
    """`run_cycle_counts`, also returning the machine with its bookings (for
    `extend_counts`). See CountMachine for `head_starts_use_limit`.
    `limit_ends`: gives (free processors, sorted (limit end, procs) of the
    running jobs), used instead of `free_procs` and `ends` when the policy
    plans the running jobs at their limits in this pass."""
    policy.prepare(queue, None)
    if limit_ends is not None and policy.running_at_limits(queue, now, total_procs):
        free_procs, ends = limit_ends()
    m = CountMachine(total_procs, free_procs, ends, now, head_starts_use_limit)
    starts: list[tuple[Req, tuple[str, ...]]] = []
    policy.plan(queue, m, starts, infos)
    return [req for req, _ in starts], m


def extend_counts(m: CountMachine, new: list[Req], policy: Policy, now: float) -> list[Req]:
    """Plan newly arrived jobs after the jobs planned on `m` by the previous
    cycle, for policies whose plan is additive (conservative). Valid only if
    nothing was released and no planned end passed since that cycle: then its
    bookings are exactly what a full cycle at `now` would make again."""
    m.advance(now)
    policy.prepare(new, None)
    starts: list[tuple[Req, tuple[str, ...]]] = []
    policy.plan(new, m, starts, None)
    return [req for req, _ in starts]

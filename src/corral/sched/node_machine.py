"""The node machine: CPUs, memory, GPUs and generic resources per node, features,
partitions.

On a node whose topology its agent reported (NodeView.cpu_layout), the machine also
keeps which CPU ids are held and chooses those of each job it starts, with its GPUs,
by the policy the agents use (corral.model.placement; docs/resources.md). There a
job asking for a core type fits only while that many CPUs of the type are free: the
CPUs of each type are counted like a generic resource (free now, released at the
planned ends of the jobs holding them, booked by reservations).

Each node keeps what is free now, the future releases of the jobs running on
it (at their planned ends) and the reservations booked during this cycle. Free
resources on a node only grow with time except where a reservation starts, so
"fits over [t0, t1)" is checked at t0 and at the reservation starts inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from corral.model.cpubind import BindOptionError
from corral.model.gpus import choose as choose_gpus
from corral.model.gpus import near_domains
from corral.model.placement import BindError, CpuAllocator
from corral.sched.gres import Gres, GresLedger, intersect
from corral.sched.request import Req
from corral.sched.types import NodeView

INF = math.inf
Res3 = tuple[int, int, int]  # cpus, mem_mb, gpus


class _Node:
    __slots__ = ("after_now", "alloc", "avail", "blocks", "cap", "ends", "features", "free",
                 "gpus_used", "gres", "idx", "kinds", "kinds_made", "name", "rel", "res",
                 "view")

    def __init__(self, v: NodeView, idx: int) -> None:
        self.view = v
        self.idx = idx
        self.name = v.name
        self.cap: Res3 = (v.cpus, v.mem_mb, v.gpus)
        self.features = v.features
        self.avail = v.available
        self.free: list[int] = [v.cpus_free, v.mem_mb_free, v.gpus_free]
        self.rel: list[tuple[float, int, int, int]] = []  # planned releases
        self.res: list[tuple[float, float, int, int, int]] = []  # reservations
        self.blocks: list[tuple[float, float, str]] = []  # advance reservations
        # generic resources (None: the node has none)
        self.gres = GresLedger(v.gres, v.gres_free) if v.gres else None
        # the node's CPUs and who holds them (None: no topology; made when first used)
        self.alloc: CpuAllocator | None = None
        self.gpus_used: set[int] | None = None  # GPU indices held (made when first used)
        # CPUs per core type, free and planned (None: the node has no core types); made
        # when first needed (a job asking a core type, or a start here), from the
        # planned ends of the jobs holding CPUs (NodeMachine sets ends, after_now)
        self.kinds: GresLedger | None = None
        self.kinds_made = v.cpu_layout is None or not v.cpu_layout.type_source
        self.ends: Mapping[int, float] = {}
        self.after_now = -INF

    def kinds_of(self, ids: tuple[int, ...]) -> Gres:
        alloc = self.allocator()
        return alloc.kinds_of(ids) if alloc is not None else ()

    def typed(self) -> GresLedger | None:
        if not self.kinds_made:
            self.kinds_made = True
            self.kinds = _kind_ledger(self.view)
            if self.kinds is not None:
                for job_id, ids in self.view.cpus_held:
                    t_cpu = self.ends.get(job_id, INF)
                    if t_cpu < INF:
                        self.kinds.rel.append((max(t_cpu, self.after_now),
                                               self.kinds_of(ids)))
        return self.kinds

    def allocator(self) -> CpuAllocator | None:
        layout = self.view.cpu_layout
        if self.alloc is None and layout is not None:
            self.alloc = CpuAllocator(layout)
            for job_id, ids in self.view.cpus_held:
                self.alloc.hold(job_id, ids)
        return self.alloc

    def kind_ok(self, req: Req, t0: float, t1: float, now: float) -> bool:
        """Enough CPUs of the job's core type over [t0, t1) (always, on a node without
        core types or for a job that asks none)."""
        if not req.core_type or req.exclusive:
            return True
        kinds = self.typed()
        return kinds is None or kinds.fits(((req.core_type, req.cpus),), t0, t1, now)

    def gres_ok(self, need: Gres, t0: float, t1: float, now: float) -> bool:
        return not need or (self.gres is not None and self.gres.fits(need, t0, t1, now))

    def free_at(self, t: float) -> list[int]:
        c, m, g = self.free
        for tr, rc, rm, rg in self.rel:
            if tr <= t:
                c += rc
                m += rm
                g += rg
        for t0, t1, rc, rm, rg in self.res:
            if t0 <= t < t1:
                c -= rc
                m -= rm
                g -= rg
        return [c, m, g]

    def fits(self, need: Res3, t0: float, t1: float, now: float, tag: str | None = None) -> bool:
        for b0, b1, name in self.blocks:
            if name != tag and b0 < t1 and t0 < b1:
                return False
        c, m, g = need
        if t0 <= now:
            f = self.free
            if f[0] < c or f[1] < m or f[2] < g:
                return False
            if not self.res:
                return True
        points = [t0] if t0 > now else []
        points += [r[0] for r in self.res if t0 < r[0] < t1]
        for t in points:
            fc, fm, fg = self.free_at(t)
            if fc < c or fm < m or fg < g:
                return False
        return True

    def feasible_starts(
        self,
        need: Res3,
        d: float,
        t_from: float,
        tag: str | None = None,
        window: tuple[float, float] | None = None,
        gres: Gres = (),
        kind: Gres = (),
    ) -> list[tuple[float, float]]:
        """Closed intervals [a, b] of start times t >= t_from at which `need`
        fits on this node over [t, t + d), outside other advance reservations
        (and inside `window`, the job's own reservation, if given)."""
        out = self._feasible(need, d, t_from)
        if gres:
            out = intersect(out, self.gres.feasible_starts(gres, d, t_from)) \
                if self.gres is not None else []
        kinds = self.typed() if kind else None
        if kinds is not None:
            out = intersect(out, kinds.feasible_starts(kind, d, t_from))
        for b0, b1, name in self.blocks:
            if name != tag:
                out = _cut(out, b0 - d, b1)
        if window is not None:
            lo, hi = window[0], window[1] - d
            out = [(max(a, lo), min(b, hi)) for a, b in out if max(a, lo) <= min(b, hi)]
        return out

    def _feasible(self, need: Res3, d: float, t_from: float) -> list[tuple[float, float]]:
        deltas: list[tuple[float, int, int, int]] = [
            (t, c, m, g) for t, c, m, g in self.rel if t > t_from
        ]
        for t0, t1, c, m, g in self.res:
            if t0 > t_from:
                deltas.append((t0, -c, -m, -g))
            if t_from < t1 < INF:
                deltas.append((t1, c, m, g))
        deltas.sort()
        fc, fm, fg = self.free_at(t_from)
        nc, nm, ng = need
        out: list[tuple[float, float]] = []
        run_start: float | None = t_from if (fc >= nc and fm >= nm and fg >= ng) else None
        i, n = 0, len(deltas)
        while i < n:
            t = deltas[i][0]
            while i < n and deltas[i][0] == t:
                fc += deltas[i][1]
                fm += deltas[i][2]
                fg += deltas[i][3]
                i += 1
            ok = fc >= nc and fm >= nm and fg >= ng
            if ok and run_start is None:
                run_start = t
            elif not ok and run_start is not None:
                if t - d >= run_start:
                    out.append((run_start, t - d))
                run_start = None
        if run_start is not None:
            out.append((run_start, INF))
        return out


def _kind_ledger(v: NodeView) -> GresLedger | None:
    layout = v.cpu_layout
    if layout is None or not layout.type_source:
        return None
    held = {c for _, ids in v.cpus_held for c in ids}
    cap: dict[str, int] = {}
    free: dict[str, int] = {}
    for c in layout.cpus:
        if c.kind:
            cap[c.kind] = cap.get(c.kind, 0) + 1
            free[c.kind] = free.get(c.kind, 0) + (c.id not in held)
    return GresLedger(tuple(sorted(cap.items())), tuple(sorted(free.items())))



def _cut(iv: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """Remove the open interval (lo, hi) from closed intervals."""
    out = []
    for a, b in iv:
        if b <= lo or a >= hi:
            out.append((a, b))
            continue
        if a <= lo:
            out.append((a, lo))
        if b >= hi:
            out.append((hi, b))
    return out


class NodeMachine:
    def __init__(
        self,
        nodes: Sequence[NodeView],
        releases: Sequence[tuple[tuple[str, ...], float, Res3 | None]],
        now: float,
        blocks: Sequence[tuple[frozenset[str], float, float, str]] = (),
        gres_releases: Sequence[tuple[tuple[str, ...], float, Gres]] = (),
        cpu_ends: Mapping[int, float] | None = None,
    ) -> None:
        """`releases`: for each running job, (its nodes, its planned end, what
        it holds per node, None: the whole node (exclusive)). `blocks`: advance
        reservations (nodes, start, end, name). `gres_releases`: the running jobs
        holding generic resources (nodes, planned end, what they hold per node).
        `cpu_ends`: the planned end of each running job holding CPU ids
        (NodeView.cpus_held; a job not in it holds its CPUs to the end of the plan)."""
        self.now = now
        self._nodes = [_Node(v, i) for i, v in enumerate(nodes)]
        self._by_name = {n.name: n for n in self._nodes}
        after_now = math.nextafter(now, INF)
        for names, t_end, held in releases:
            if t_end >= INF:
                continue
            t = max(t_end, after_now)  # overdue: expected to end any moment
            for name in names:
                node = self._by_name.get(name)
                if node is None:
                    continue
                if held is None:
                    cc, cm, cg = node.cap
                    fc, fm, fg = node.free
                    node.rel.append((t, cc - fc, cm - fm, cg - fg))
                else:
                    node.rel.append((t, *held))
        for names, t_end, g in gres_releases:
            if t_end >= INF or not g:
                continue
            for name in names:
                node = self._by_name.get(name)
                if node is not None and node.gres is not None:
                    node.gres.rel.append((max(t_end, after_now), g))
        if cpu_ends:
            for node in self._nodes:
                if not node.kinds_made:
                    node.ends, node.after_now = cpu_ends, after_now
        # job id -> node -> (CPU ids, GPU ids) chosen at its start (nodes with a topology)
        self.placed: dict[int, dict[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {}
        for names_b, b0, b1, tag in blocks:
            if b1 > now:
                for name in names_b:
                    node = self._by_name.get(name)
                    if node is not None:
                        node.blocks.append((b0, b1, tag))
        self.free_cpus = sum(n.free[0] for n in self._nodes if n.avail)
        self._eligible: dict[tuple[object, ...], list[_Node]] = {}
        self._static: dict[tuple[object, ...], frozenset[int]] = {}
        # the same nodes in node order, and the distinct capacities among them
        self._static_nodes: dict[tuple[object, ...], tuple[list[_Node], frozenset[Res3]]] = {}
        self._failed: dict[tuple[object, ...], float] = {}
        self._n_res = 0
        # available nodes with a free CPU, in node order; nodes holding a reservation
        self._open = {n.idx: n for n in self._nodes if n.avail and n.free[0] > 0}
        self._reserved: dict[int, _Node] = {}

    # -- eligibility -------------------------------------------------------
    def _need(self, req: Req, node: _Node) -> Res3:
        return node.cap if req.exclusive else (req.cpus, req.mem_mb, req.gpus)

    def _key(self, req: Req) -> tuple[object, ...]:
        return (
            req.node_names,
            req.feature_ok,
            req.exclusive,
            req.cpus,
            req.mem_mb,
            req.gpus,
            req.resv,
            req.required,
            req.gres,
            req.core_type,
        )

    def _static_ok(self, req: Req, include_unavailable: bool) -> frozenset[int]:
        """Indexes of the nodes of the job's partition whose features match."""
        key = (req.node_names, req.feature_ok, include_unavailable)
        got = self._static.get(key)
        if got is None:
            names = req.node_names
            ok: Callable[[frozenset[str]], bool] | None = req.feature_ok
            got = frozenset(
                n.idx
                for n in self._nodes
                if (n.avail or include_unavailable)
                and (names is None or n.name in names)
                and (ok is None or ok(n.features))
            )
            self._static[key] = got
        return got

    def eligible(self, req: Req, include_unavailable: bool = False) -> list[_Node]:
        """Nodes that could hold one slice of the job when idle (node order; the list
        is shared between callers and must not be changed)."""
        key = (req.node_names, req.feature_ok, req.exclusive, req.cpus, req.mem_mb, req.gpus,
               req.resv, include_unavailable, req.gres, req.core_type)
        got = self._eligible.get(key)
        if got is not None:
            return got
        skey = (req.node_names, req.feature_ok, include_unavailable)
        static = self._static_nodes.get(skey)
        if static is None:
            idx = self._static_ok(req, include_unavailable)
            members = [n for n in self._nodes if n.idx in idx]
            static = (members, frozenset(n.cap for n in members))
            self._static_nodes[skey] = static
        nodes, caps = static
        # Nodes differ in few capacities: decide per capacity, not per node. An
        # exclusive job needs a whole node, which every node has.
        ok = caps if req.exclusive else frozenset(
            cap for cap in caps
            if req.cpus <= cap[0] and req.mem_mb <= cap[1] and req.gpus <= cap[2])
        out = nodes if len(ok) == len(caps) else [n for n in nodes if n.cap in ok] if ok else []
        if req.gres:  # only nodes that have them
            out = [n for n in out if n.gres is not None and n.gres.has(req.gres)]
        if req.core_type and not req.exclusive:  # enough CPUs of its type, where typed
            kind = ((req.core_type, req.cpus),)
            out = [n for n in out for k in [n.typed()] if k is None or k.has(kind)]
        self._eligible[key] = out
        return out

    def could_ever_fit(self, req: Req) -> bool:
        return self._enough(req, self.eligible(req))

    def could_fit_if_all_up(self, req: Req) -> bool:
        return self._enough(req, self.eligible(req, include_unavailable=True))

    @staticmethod
    def _enough(req: Req, nodes: list[_Node]) -> bool:
        if len(nodes) < req.nodes:
            return False
        return not req.required or req.required <= {n.name for n in nodes}

    def candidates(self, reqs: list[Req]) -> list[Req]:
        free = self.free_cpus
        return [r for r in reqs if r.exclusive or r.nodes * r.cpus <= free]

    def exhausted(self) -> bool:
        return self.free_cpus <= 0

    # -- protocol ----------------------------------------------------------
    def try_start(self, req: Req) -> tuple[str, ...] | None:
        k = req.nodes
        if not req.exclusive and k * req.cpus > self.free_cpus:
            return None
        fkey = (*self._key(req), k)
        failed_s = self._failed.get(fkey)
        if failed_s is not None and req.dur_s >= failed_s:
            return None  # a job of this shape as long or shorter found no room
        now = self.now
        t_end = now + req.dur_s
        static = self._static_ok(req, False)
        tag = req.resv
        if req.resv_window is not None and not (
            req.resv_window[0] <= now and t_end <= req.resv_window[1]
        ):
            return None
        excl = req.exclusive
        need: Res3 = (req.cpus, req.mem_mb, req.gpus)
        chosen: list[_Node] = []
        required = req.required
        for name in sorted(required):  # the nodes it must have (--nodelist) first
            n = self._by_name.get(name)
            nd = need if n is None or not excl else n.cap
            if n is None or n.idx not in static or not n.fits(nd, now, t_end, now, tag) \
                    or not n.gres_ok(req.gres, now, t_end, now) \
                    or not n.kind_ok(req, now, t_end, now):
                self._failed[fkey] = min(req.dur_s, self._failed.get(fkey, INF))
                return None
            chosen.append(n)
        # Nodes carrying a reservation first (the job must end before it):
        # that leaves the unreserved ones to jobs that run past it. A job with a
        # rank looks at every node that fits and takes the best ranked.
        ranked: list[_Node] | None = [] if req.rank is not None else None
        for pool, skip_reserved in ((self._reserved, False), (self._open, True)):
            if len(chosen) == k:
                break
            for idx, n in pool.items():
                if idx not in static or (skip_reserved and n.res) or (
                        required and n.name in required):
                    continue
                nd = n.cap if excl else need
                f = n.free  # free now: the cheap test first (fits() checks it again)
                if nd[0] > f[0] or nd[1] > f[1] or nd[2] > f[2]:
                    continue
                if (skip_reserved or idx in self._open) and n.fits(nd, now, t_end, now, tag) \
                        and n.gres_ok(req.gres, now, t_end, now) \
                        and n.kind_ok(req, now, t_end, now):
                    if ranked is not None:
                        ranked.append(n)
                        continue
                    chosen.append(n)
                    if len(chosen) == k:
                        break
            if len(chosen) == k:
                break
        if ranked and req.rank is not None:
            rank = req.rank
            ranked.sort(key=lambda n: (-rank.get(n.name, 0.0), n.idx))
            chosen += ranked[:k - len(chosen)]
        if len(chosen) < k:
            self._failed[fkey] = min(req.dur_s, self._failed.get(fkey, INF))
            return None
        for n in chosen:
            c, m, g = self._need(req, n)
            n.free[0] -= c
            n.free[1] -= m
            n.free[2] -= g
            self.free_cpus -= c
            if n.free[0] <= 0:
                self._open.pop(n.idx, None)
            if t_end < INF:
                n.rel.append((t_end, c, m, g))
            if req.gres and n.gres is not None:
                n.gres.take(req.gres, t_end)
            self._place(req, n, t_end)
        return tuple(n.name for n in chosen)

    def _place(self, req: Req, n: _Node, t_end: float) -> None:
        """Choose the job's GPUs and CPU ids on a node with a topology (model.placement,
        as its agent would); they are held from now to t_end."""
        alloc = n.allocator()
        if alloc is None:
            return
        gpu_ids: tuple[int, ...] = ()
        if req.gpus and n.cap[2]:
            if n.gpus_used is None:
                n.gpus_used = set(n.view.gpu_ids_used)
            gpu_ids = choose_gpus(n.cap[2], n.gpus_used, req.gpus, n.view.gpu_numa)
            n.gpus_used |= set(gpu_ids)
        cpu_bind, prefer, flags = req.bind
        kinds = n.typed()  # before the first take here: it counts from what is held
        try:
            placement = alloc.take(req.job_id, req.cpus, cpu_bind=cpu_bind,
                                   core_type=req.core_type or prefer,
                                   near=near_domains(gpu_ids, n.view.gpu_numa),
                                   gres_flags=flags)
        except (BindError, BindOptionError):
            return  # map_cpu it cannot have: its agent refuses it at the start
        self.placed.setdefault(req.job_id, {})[n.name] = (placement.cpus, gpu_ids)
        if kinds is not None:
            kinds.take(alloc.kinds_of(placement.cpus), t_end)

    def reserve(self, req: Req, t_min: float = -INF) -> float:
        k = req.nodes
        d = req.dur_s
        t_from = max(self.now, t_min)
        events: list[tuple[float, int, int]] = []  # (time, +1 open / -1 close, node index)
        nodes = self.eligible(req)
        if not self._enough(req, nodes):
            return INF
        must = {i for i, n in enumerate(nodes) if n.name in req.required}
        for idx, n in enumerate(nodes):
            for a, b in n.feasible_starts(self._need(req, n), d, t_from, req.resv,
                                          req.resv_window, req.gres,
                                          self._kind_need(req)):
                events.append((a, 0, idx))
                if b < INF:
                    events.append((b, 1, idx))
        events.sort()
        active: set[int] = set()
        opened: dict[int, float] = {}  # node index -> the start of its open window
        i, ne = 0, len(events)
        while i < ne:
            t = events[i][0]
            closing: list[int] = []
            while i < ne and events[i][0] == t:
                _, kind, idx = events[i]
                if kind == 0:
                    active.add(idx)
                    opened[idx] = t
                else:
                    closing.append(idx)
                i += 1
            if len(active) >= k and must <= active:
                # Prefer the nodes whose window opened last (the ones free
                # earlier stay open to jobs booked or backfilled before t),
                # then those busy now.
                others = sorted(active - must,
                                key=lambda x: (-opened[x], nodes[x].free[0] - nodes[x].cap[0],
                                               x))
                chosen = sorted([*must, *others[:k - len(must)]])
                for idx in chosen:
                    n = nodes[idx]
                    c, m, g = self._need(req, n)
                    n.res.append((t, t + d, c, m, g))
                    if req.gres and n.gres is not None:
                        n.gres.book(req.gres, t, t + d)
                    typed = self._kind_need(req)
                    kinds = n.typed() if typed else None
                    if kinds is not None:
                        kinds.book(typed, t, t + d)
                    self._reserved[n.idx] = n
                self._n_res += 1
                return t
            active.difference_update(closing)
        return INF

    @staticmethod
    def _kind_need(req: Req) -> Gres:
        return () if not req.core_type or req.exclusive else ((req.core_type, req.cpus),)

    def reserved_nodes(self) -> tuple[str, ...]:
        """The nodes holding a reservation made by reserve()."""
        return tuple(n.name for n in self._reserved.values())

    def node_names(self) -> list[str]:
        return [n.name for n in self._nodes]

"""GET /metrics: Prometheus text exposition of the controller's state.

Gauges are computed at scrape time from the in-memory state (no background work);
counters are kept by the services in `Controller.counters`.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corral.api.auth import require_reader
from corral.model.states import JobState, NodeState
from corral.services.controller import Controller

router = APIRouter()


def _by_state(name: str, doc: str, states: list[Any], seen: Iterable[Any]) -> GaugeMetricFamily:
    """A gauge with one sample per state (zeros included): how many are in it."""
    counts = Counter(seen)
    family = GaugeMetricFamily(name, doc, labels=["state"])
    for state in states:
        family.add_metric([str(state)], counts[state])
    return family


class _ControllerCollector(Collector):
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ctl = self.ctl
        yield _by_state("corral_jobs", "Jobs in the queue by state", list(JobState),
                        itertools.chain(*(itertools.repeat(s, len(ids)) for s, ids
                                          in ctl.jobs.by_state.items()), *(
                            itertools.repeat(r.template.state, len(r.pending))
                            for r in ctl.arrays.rests.values())))
        yield _by_state("corral_nodes", "Nodes by state", list(NodeState),
                        (n.state for n in ctl.nodes.values()))
        cpus = GaugeMetricFamily("corral_cpus", "CPUs of reachable nodes", labels=["use"])
        up = [n for n in ctl.nodes.values() if n.reachable]
        cpus.add_metric(["total"], sum(n.cpus for n in up))
        cpus.add_metric(["allocated"], sum(n.cpus_used for n in up))
        yield cpus
        sched = ctl.scheduler
        yield CounterMetricFamily("corral_scheduler_passes", "Scheduling passes run",
                                  value=sched.passes if sched else 0)
        yield GaugeMetricFamily("corral_scheduler_last_pass_seconds",
                                "Duration of the last pass of the scheduler core",
                                value=sched.last_pass_s if sched else 0.0)
        for name, value in sorted(ctl.counters.items()):
            yield CounterMetricFamily(f"corral_{name}", f"corral {name.replace('_', ' ')}",
                                      value=value)


def registry_for(ctl: Controller) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_ControllerCollector(ctl))
    return reg


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_reader)])
async def metrics(request: Request) -> Response:
    reg: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

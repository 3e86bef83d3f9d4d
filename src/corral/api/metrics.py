"""GET /metrics: Prometheus text exposition of the controller's state.

Gauges and counters are those of the published read model (services/snapshot.py),
as of its last publication (at most a second old); the counters are kept by the
services in `Controller.counters`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corral.api.auth import require_reader
from corral.model.states import JobState, NodeState
from corral.services.controller import Controller

router = APIRouter()


def _by_state(name: str, doc: str, states: list[Any], counts: dict[str, int]
              ) -> GaugeMetricFamily:
    """A gauge with one sample per state (zeros included): how many are in it."""
    family = GaugeMetricFamily(name, doc, labels=["state"])
    for state in states:
        family.add_metric([str(state)], counts.get(str(state), 0))
    return family


class _ControllerCollector(Collector):
    """The gauges and counters of the published read model (services/snapshot.py):
    a scrape never touches the controller's state."""

    def __init__(self, ctl: Controller) -> None:
        self.publisher = ctl.publisher

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        g = self.publisher.snapshot(fresh=True).gauges
        yield _by_state("corral_jobs", "Jobs in the queue by state", list(JobState),
                        g.jobs_by_state)
        yield _by_state("corral_nodes", "Nodes by state", list(NodeState), g.nodes_by_state)
        cpus = GaugeMetricFamily("corral_cpus", "CPUs of reachable nodes", labels=["use"])
        cpus.add_metric(["total"], g.cpus_total)
        cpus.add_metric(["allocated"], g.cpus_allocated)
        yield cpus
        yield CounterMetricFamily("corral_scheduler_passes", "Scheduling passes run",
                                  value=g.scheduler_passes)
        yield GaugeMetricFamily("corral_scheduler_last_pass_seconds",
                                "Duration of the last pass of the scheduler core",
                                value=g.scheduler_last_pass_s)
        for name, value in sorted(g.counters.items()):
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

"""Charge rates: TRES billing weights per partition, as Slurm's TRESBillingWeights.

`[[partitions]] billing = "cpu=1.0,mem=0.25G,gpu=4.0"`: a job's billing is the sum
of each resource it holds times its weight (CPUs, memory, GPUs, nodes); its charge
is billing x elapsed seconds (billing-seconds; reports show billing-hours). As in
Slurm, once weights are given a resource left out weighs nothing; a partition
without weights bills one unit per allocated CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corral.model.errors import InvalidRequest

# memory weights are per MiB unless suffixed (0.25G: 0.25 per GiB)
_MEM_UNIT_MB = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 * 1024}
_KEYS = {"cpu": "cpu", "mem": "mem", "gpu": "gpu", "gres/gpu": "gpu", "node": "node"}
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)([KMGT]?)$", re.IGNORECASE)
MAX_WEIGHT = 1e9


@dataclass(frozen=True, slots=True)
class BillingWeights:
    cpu: float = 1.0
    mem_per_mb: float = 0.0
    gpu: float = 0.0
    node: float = 0.0

    def billing(self, *, cpus: int, mem_mb: float, gpus: int, nodes: int) -> float:
        """Billing units a job holding these resources costs per second."""
        return (self.cpu * cpus + self.mem_per_mb * mem_mb + self.gpu * gpus
                + self.node * nodes)


CPU_ONLY = BillingWeights()


def parse_billing(field: str, text: str) -> BillingWeights:
    """'cpu=1.0,mem=0.25G,gpu=4.0' (keys cpu, mem, gpu or gres/gpu, node; case
    ignored). An empty text: one unit per CPU."""
    if not text.strip():
        return CPU_ONLY
    weights = {"cpu": 0.0, "mem": 0.0, "gpu": 0.0, "node": 0.0}
    seen: set[str] = set()
    for item in text.split(","):
        key, eq, value = item.strip().partition("=")
        name = _KEYS.get(key.strip().lower())
        if not eq or name is None:
            raise InvalidRequest(f"{field}: {item.strip()!r} is not cpu=W, mem=W[KMGT], "
                                 f"gpu=W or node=W")
        if name in seen:
            raise InvalidRequest(f"{field}: {name} is weighted twice")
        seen.add(name)
        m = _NUMBER.match(value.strip())
        if m is None or (m.group(2) and name != "mem"):
            raise InvalidRequest(f"{field}: {item.strip()!r}: the weight must be a "
                                 f"number >= 0 (a unit suffix only for mem)")
        w = float(m.group(1))
        if name == "mem":
            w /= _MEM_UNIT_MB[m.group(2).upper()]
        if w > MAX_WEIGHT:
            raise InvalidRequest(f"{field}: {item.strip()!r} is over the maximum weight "
                                 f"of {MAX_WEIGHT:g}")
        weights[name] = w
    return BillingWeights(cpu=weights["cpu"], mem_per_mb=weights["mem"],
                          gpu=weights["gpu"], node=weights["node"])

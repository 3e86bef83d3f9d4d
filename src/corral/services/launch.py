"""The launch order: what an agent is sent to start a job's run (spec 02 §3)."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any

from corral.config import Config
from corral.model.arrays import array_facts
from corral.model.gpus import near_domains
from corral.model.job import Job
from corral.model.node import Node


def term_signal(job: Job) -> int:
    """What a job is sent first when it is killed (SIGKILL follows after the grace
    time): SIGTERM, or SIGUSR2 for a job that asked to be notified."""
    return int(signal.SIGUSR2 if job.spec.notify else signal.SIGTERM)


def mem_limit_mb(cfg: Config, job: Job) -> int | None:
    """The memory an agent holds the job to per node (None: not enforced)."""
    return job.mem_mb_per_node if cfg.controller.enforce_memory else None


def job_environment(job: Job) -> dict[str, str]:
    """The submit environment plus what corral adds (array and task facts)."""
    env = dict(job.spec.environment)
    env["SLURM_RESTART_COUNT"] = env["CORRAL_RESTART_COUNT"] = str(job.restarts)
    env["SLURM_JOB_PARTITION"] = env["CORRAL_JOB_PARTITION"] = job.partition
    if job.spec.account:
        env["SLURM_JOB_ACCOUNT"] = env["CORRAL_JOB_ACCOUNT"] = job.spec.account
    if job.nodes:
        env["SLURMD_NODENAME"] = env["CORRAL_NODENAME"] = job.nodes[0]
    if job.spec.gres:  # its generic resources on each node (docs/resources.md)
        env["SLURM_JOB_GRES"] = env["CORRAL_JOB_GRES"] = job.spec.gres
    if job.array_job_id is not None and job.spec.array:
        low, high, count, step = array_facts(job.spec.array)
        for prefix in ("SLURM_ARRAY", "CORRAL_ARRAY"):
            env[f"{prefix}_JOB_ID"] = str(job.array_job_id)
            env[f"{prefix}_TASK_ID"] = str(job.array_task_id)
            env[f"{prefix}_TASK_MIN"] = str(low)
            env[f"{prefix}_TASK_MAX"] = str(high)
            env[f"{prefix}_TASK_COUNT"] = str(count)
            env[f"{prefix}_TASK_STEP"] = str(step)
    return env


def cpu_binding(cfg: Config, job: Job) -> tuple[str, str, str]:
    """How the job's CPUs are chosen (docs/resources.md): its cpu_bind (an exclusive job
    has the whole node: not bound unless it asks), the core type it asks or, with
    energy-aware scheduling, prefers (a niced job: efficiency), and its gres_flags."""
    spec = job.spec
    return (spec.cpu_bind or ("none" if spec.exclusive else ""),
            spec.core_type or (
                "efficiency" if cfg.scheduler.energy_aware and spec.nice > 0 else ""),
            spec.gres_flags or "")


# What an allocation's node runs until its client ends it: nothing but waiting.
ALLOCATION_HOLDER = ("/bin/sh", "-c",
                     'trap "exit 0" TERM INT HUP; while :; do sleep 3600 & wait $!; done')


def launch_order(cfg: Config, job: Job, nodes: Mapping[str, Node] | None = None
                 ) -> dict[str, Any]:
    """What a job's batch node is sent to start its run."""
    spec = job.spec
    script, argv = spec.script, list(spec.argv)
    stdout, stderr = job.stdout_path, job.stderr_path
    if spec.interactive:
        script, argv, stdout, stderr = None, list(ALLOCATION_HOLDER), "/dev/null", "/dev/null"
    batch = nodes.get(job.nodes[0]) if nodes is not None and job.nodes else None
    gpu_numa = batch.gpu_numa if batch is not None else ()
    cpu_bind, core_type, gres_flags = cpu_binding(cfg, job)
    return {
        "kind": "launch",
        "job_id": job.id,
        "launch": {
            "job_id": job.id, "name": spec.name, "user": job.user, "uid": job.uid,
            "gid": job.gid, "script": script, "argv": argv,
            "working_dir": spec.working_dir, "environment": job_environment(job),
            "stdout": stdout, "stderr": stderr,
            "time_limit_s": job.time_limit_s,
            "mem_mb": mem_limit_mb(cfg, job),
            "cpus": spec.cpus_per_node, "gpus": spec.gpus_per_node,
            "node_list": list(job.nodes), "kill_grace_s": cfg.controller.kill_grace_s,
            "gpu_ids": list(job.gpu_ids.get(job.nodes[0], ())) if job.nodes else [],
            "term_signal": term_signal(job), "run": job.restarts,
            "output_wait_s": cfg.controller.output_wait_s,
            "cpu_bind": cpu_bind, "core_type": core_type, "gres_flags": gres_flags,
            # the NUMA domains of its GPUs here: its CPUs are chosen near them
            "gpu_domains": sorted(near_domains(
                job.gpu_ids.get(job.nodes[0], ()) if job.nodes else (), gpu_numa)),
            # the CPUs the scheduler chose for it there (absent: the agent chooses)
            **({"cpu_ids": list(job.cpu_ids[job.nodes[0]])}
               if job.nodes and job.nodes[0] in job.cpu_ids else {}),
            "input_sandbox": list(spec.input_sandbox),
            "output_sandbox": list(spec.output_sandbox),
        },
    }

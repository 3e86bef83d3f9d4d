"""The shapes of the agent protocol (docs/specs/02-agent-protocol.md §3).

Parsing is strict about types and lenient about extra keys, so a newer controller
can add fields without breaking an older agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

JOB_END_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY")


class ProtocolError(ValueError):
    """A message from the controller does not have the documented shape."""


def _get(d: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in d or d[key] is None:
        if default is ...:
            raise ProtocolError(f"missing field {key!r}")
        return default
    value = d[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ProtocolError(f"field {key!r}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        raise ProtocolError(f"field {key!r}: unexpected value {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Launch:
    job_id: int
    name: str
    user: str
    uid: int
    gid: int
    script: str | None
    argv: tuple[str, ...]
    working_dir: str
    environment: dict[str, str]
    stdout: str
    stderr: str
    time_limit_s: float  # 0: unlimited
    mem_mb: int | None
    cpus: int
    gpus: int
    node_list: tuple[str, ...]
    kill_grace_s: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Launch:
        if not isinstance(d, dict):
            raise ProtocolError("launch: expected an object")
        script = _get(d, "script", str, None)
        argv = _get(d, "argv", list, [])
        if not all(isinstance(a, str) for a in argv):
            raise ProtocolError("field 'argv': every item must be a string")
        if script is None and not argv:
            raise ProtocolError("launch: needs a 'script' or an 'argv'")
        env = _get(d, "environment", dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ProtocolError("field 'environment': keys and values must be strings")
        nodes = _get(d, "node_list", list, [])
        stdout = _get(d, "stdout", str, "/dev/null")
        mem_mb = _get(d, "mem_mb", int, None)
        return cls(
            job_id=_get(d, "job_id", int),
            name=_get(d, "name", str, ""),
            user=_get(d, "user", str, ""),
            uid=_get(d, "uid", int),
            gid=_get(d, "gid", int),
            script=script,
            argv=tuple(argv),
            working_dir=_get(d, "working_dir", str),
            environment=dict(env),
            stdout=stdout,
            stderr=_get(d, "stderr", str, stdout),
            time_limit_s=float(_get(d, "time_limit_s", (int, float), 0)),
            mem_mb=mem_mb if mem_mb and mem_mb > 0 else None,
            cpus=_get(d, "cpus", int, 1),
            gpus=_get(d, "gpus", int, 0),
            node_list=tuple(str(n) for n in nodes),
            kill_grace_s=float(_get(d, "kill_grace_s", (int, float), 5)),
        )


@dataclass(frozen=True, slots=True)
class Order:
    kind: str  # launch | cancel | signal
    job_id: int
    launch: Launch | None = None
    signal: int = 15
    grace_s: float = 5.0
    main_only: bool = False  # signal: only the job's main process, not its group

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Order:
        if not isinstance(d, dict):
            raise ProtocolError("order: expected an object")
        kind = _get(d, "kind", str)
        job_id = _get(d, "job_id", int)
        if kind == "launch":
            return cls(kind, job_id, launch=Launch.from_dict(_get(d, "launch", dict)))
        if kind == "cancel":
            return cls(kind, job_id, signal=_get(d, "signal", int, 15),
                       grace_s=float(_get(d, "grace_s", (int, float), 5.0)))
        if kind == "signal":
            return cls(kind, job_id, signal=_get(d, "signal", int),
                       main_only=bool(_get(d, "main_only", bool, False)))
        raise ProtocolError(f"unknown order kind {kind!r}")


@dataclass(slots=True)
class JobReport:
    job_id: int
    state: str
    exit_code: int | None = None
    signal: int | None = None
    t_start: float = 0.0
    t_end: float = 0.0
    cpu_time_s: float = 0.0
    max_rss_mb: float = 0.0
    message: str = ""
    cancelled: bool = False  # ended by a cancel order (state is then CANCELLED)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunningJob:
    job_id: int
    pid: int

    def to_dict(self) -> dict[str, int]:
        return {"job_id": self.job_id, "pid": self.pid}

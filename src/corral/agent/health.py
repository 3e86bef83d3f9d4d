"""The site's health check on this node (docs/specs/02-agent-protocol.md §6).

Like Slurm's HealthCheckProgram: the program named in the configuration runs at
every interval (the first time as soon as the agent knows it), as the agent's own
user, with a timeout. Each verdict goes to the controller: a failure (non-zero exit
or timeout) drains the node with the first line of the check's output as the
reason; a pass resumes the node if the check had drained it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from corral.agent.siteprog import (
    ProgramResult,
    base_environment,
    program_of,
    run_program,
    seconds_of,
)

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0
DEFAULT_TIMEOUT_S = 60.0

Verdict = Callable[[bool, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HealthSettings:
    program: str | None = None
    interval_s: float = DEFAULT_INTERVAL_S
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HealthSettings:
        """From the `agent` settings of the controller's register answer."""
        return cls(program_of(config, "health_check_program"),
                   seconds_of(config, "health_check_interval_s", DEFAULT_INTERVAL_S),
                   seconds_of(config, "health_check_timeout_s", DEFAULT_TIMEOUT_S))


def reason_of(result: ProgramResult) -> str:
    """The drain reason: the check's first line; what went wrong if it said nothing
    or did not end by itself."""
    if result.exit_code is not None and result.first_line:
        return result.first_line
    return result.message


class HealthCheck:
    def __init__(self, node: str, send: Verdict) -> None:
        self.node = node
        self.send = send
        self.settings = HealthSettings()
        self.last: tuple[bool, str] | None = None  # the latest verdict (ok, reason)
        self._task: asyncio.Task[None] | None = None

    def configure(self, settings: HealthSettings) -> None:
        """Start, change or stop the check (the controller's configuration)."""
        if settings == self.settings and (self._task is not None or settings.program is None):
            return
        self.settings = settings
        self.last = None  # a verdict of another program, or of none
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if settings.program is not None:
            log.info("health check %s every %g s", settings.program, settings.interval_s)
            self._task = asyncio.get_running_loop().create_task(self._loop(settings))

    async def _loop(self, settings: HealthSettings) -> None:
        assert settings.program is not None
        what = f"health check {settings.program}"
        while True:
            result = await run_program(what, settings.program, base_environment(self.node),
                                       settings.timeout_s)
            reason = "" if result.ok else reason_of(result)
            if self.last is None or result.ok != self.last[0]:
                if result.ok:
                    log.info("%s passes", what)
                else:
                    log.warning("%s fails: %s", what, reason)
            self.last = (result.ok, reason)
            try:
                await self.send(result.ok, reason)
            except Exception as exc:  # the next round sends it again
                log.warning("health verdict not delivered (%s)", exc)
            await asyncio.sleep(settings.interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

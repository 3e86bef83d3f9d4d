"""Which controller leads, as this agent knows it (docs/deployment.md).

The agent is given one controller address or several (comma separated: the
controllers sharing one database). It talks to one at a time; when that one does
not answer, or answers that it does not lead, it moves to the leader named in the
answer if that is one of its addresses, else to the next one.

Fencing: every answer and every order of a leader carries its epoch. The agent
remembers the highest it has seen (in `<spool>/epoch`, so a restarted agent still
knows it) and ignores, saying so in its log, an order of an older epoch: that of a
deposed leader, which may not command its node any more.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("corral.agent")

EPOCH_FILE = "epoch"


def _epoch_of(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class LeaderFinder:
    def __init__(self, controllers: str, spool: Path) -> None:
        self.urls = [u.strip().rstrip("/") for u in controllers.split(",") if u.strip()]
        if not self.urls:
            raise ValueError("no controller address")
        self.index = 0
        self._file = spool / EPOCH_FILE
        self.epoch = 0
        with contextlib.suppress(OSError, ValueError):
            self.epoch = max(0, int(self._file.read_text().strip()))

    @property
    def url(self) -> str:
        return self.urls[self.index]

    @property
    def several(self) -> bool:
        return len(self.urls) > 1

    def next(self, answer: str | None) -> str:
        """The address to try after the current one failed; `answer`: its body."""
        named = None
        if answer:
            with contextlib.suppress(ValueError, AttributeError):
                named = json.loads(answer).get("leader")
        if isinstance(named, str) and named.rstrip("/") in self.urls \
                and named.rstrip("/") != self.url:
            self.index = self.urls.index(named.rstrip("/"))
        else:
            self.index = (self.index + 1) % len(self.urls)
        return self.url

    def accept_epoch(self, value: object, *, registered: bool = False) -> bool:
        """An answer of this epoch: False if it is older than one seen (the answer
        is then ignored); a newer one is remembered. A `register` answer is taken
        whatever its epoch: the controller stored the registration, which its epoch
        check lets through only while it leads (so an agent outlives a database
        started afresh, whose epochs begin again at 1)."""
        epoch = _epoch_of(value)
        if epoch is None:  # a controller that does not say (earlier versions)
            return True
        if registered and epoch < self.epoch:
            log.warning("the leader's epoch is %d, lower than the %d seen before (a new "
                        "database?): following it", epoch, self.epoch)
            self.epoch = 0
        if epoch < self.epoch:
            log.warning("an answer of epoch %d ignored: the leader's epoch is %d",
                        epoch, self.epoch)
            return False
        if epoch > self.epoch:
            if self.epoch:
                log.info("a new leader: epoch %d (was %d) at %s", epoch, self.epoch,
                         self.url)
            self.epoch = epoch
            tmp = self._file.with_name(EPOCH_FILE + ".tmp")
            with contextlib.suppress(OSError):
                tmp.write_text(f"{epoch}\n")
                os.replace(tmp, self._file)
        return True

    def order_current(self, order: object) -> bool:
        """Whether to carry this order out: not if it is of an older epoch."""
        if not isinstance(order, dict):
            return True  # (the order's own checks refuse it)
        epoch = _epoch_of(order.get("epoch"))
        if epoch is not None and epoch < self.epoch:
            log.warning("order %s for job %s of epoch %d ignored: it comes from a deposed "
                        "leader (the leader's epoch is %d)", order.get("kind"),
                        order.get("job_id"), epoch, self.epoch)
            return False
        return True

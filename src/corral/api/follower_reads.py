"""Reads a follower answers from its warm copy (docs/deployment.md, "Follower reads").

A follower keeps the queue as the event log leaves it (services/follow.py) and
answers, from that copy, the reads that need nothing but the jobs: listings
(GET /v1/jobs, the history too: it is the store's), one-job queries, a job's
events, and `explain` of a job that does not wait (ended, running, held: what a
pending job waits for depends on the nodes as the leader sees them, so that one
is the leader's). Everything else is answered `not_leader` (api/standby.py): the
client goes to the leader.

Read-your-writes, for each client: every answer of the leader says, in
`X-Corral-Seq`, the newest event of the log as of that answer, so at least the
client's own write. The client sends the highest it has seen back in
`X-Corral-Min-Seq`; a follower that has not applied that event yet waits for it
up to READ_WAIT_S, and if it still has not, sends the client to the leader
(`not_leader`). A follower's own answers carry `X-Corral-Seq` too (the event its
copy has applied), so a client never reads older state than it has seen, from
any controller. A follower that has not heard from the store for a lease
(cut off from it) sends every reader to the leader.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from corral.model.states import JobState
from corral.services.follow import Tail

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

SEQ_HEADER = b"x-corral-seq"  # the newest event an answer reflects
MIN_SEQ_HEADER = b"x-corral-min-seq"  # the oldest the client may be answered from
SERVED_BY_HEADER = b"x-corral-served-by"  # "follower" on a follower's answers
READ_WAIT_S = 1.0  # the longest a follower waits to apply what a client has seen

_READS = re.compile(r"^/v1/jobs(/([0-9]{1,18})(/events|/explain)?)?$")


def min_seq(scope: Scope) -> int | None:
    """The client's X-Corral-Min-Seq (0: none); None when malformed."""
    for k, v in scope.get("headers") or ():
        if k == MIN_SEQ_HEADER:
            text = v.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit() and len(text) <= 18):
                return None
            return int(text)
    return 0


def with_seq(send: Send, seq: int, *, follower: bool) -> Send:
    """`send`, adding X-Corral-Seq (and, on a follower, X-Corral-Served-By) to the
    answer's headers."""
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            headers.append((SEQ_HEADER, str(seq).encode("ascii")))
            if follower:
                headers.append((SERVED_BY_HEADER, b"follower"))
            message = {**message, "headers": headers}
        await send(message)
    return sending


class FollowerReads:
    """What a follower answers from its copy: `answers(scope)` says whether it
    takes the request, `__call__` serves it through the read path of the copy's
    controller (api/readpath.py)."""

    def __init__(self, reads: App, tail: Tail, stale_after_s: float) -> None:
        self.reads = reads
        self.tail = tail
        self.stale_after_s = stale_after_s

    def answers(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        m = _READS.match(scope["path"])
        if m is None or not self.tail.loaded \
                or time.monotonic() - self.tail.t_heard >= self.stale_after_s:
            return False
        if m.group(3) == "/explain":
            entry = self.tail.ctl.publisher.current.job(int(m.group(2)))
            return entry is not None and entry.state != str(JobState.PENDING)
        return True

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer the read from the copy once it has applied what the client saw;
        False: it has not within READ_WAIT_S (the caller sends the client on)."""
        wanted = min_seq(scope)
        if wanted is None:
            return False  # (on to the leader, which does not read the header)
        if wanted and not await self.tail.applied(wanted, READ_WAIT_S):
            return False
        await self.reads(scope, receive, with_seq(send, self.tail.applied_seq,
                                                  follower=True))
        return True

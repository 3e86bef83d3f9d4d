"""SIGTERM and SIGINT for the controller process, taken by one thread.

Both are blocked in every thread from the start of `main` (threads inherit the
mask) and one thread takes them with `sigtimedwait`, holding `Stops.lock` while it
waits. A controller that re-executes itself (api/standby.py `reexec`) does so
holding the same lock: a stop signal is then either already taken (`asked` is
set, and the controller stops instead) or still pending, and a pending signal
crosses `execve` to the fresh image, which stops at once. Without this a
`systemctl stop` that came while a leader stepped down was lost with the old
image, and the fresh follower ran on.

The signal asks the server to stop cleanly (its last writes in, its lease given
up); a second SIGINT forces it; a stop still under way after STOP_GRACE_S
(a database out of reach) ends the process. Before the server is up, a signal
ends the process at once (nothing is held that the kernel does not release).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

log = logging.getLogger("corral.server")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
WAIT_S = 0.2  # the taker lets go of the lock this often (a re-exec waits at most this)
STOP_GRACE_S = 10.0  # a clean stop that takes longer ends the process


class Stops:
    """The process's stop signals: `start` once, from the main thread, first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.asked = threading.Event()
        # what a stop signal does once the server is up (its number given)
        self.on_stop: Callable[[int], None] | None = None

    def start(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        threading.Thread(target=self._take, name="corral-signals", daemon=True).start()

    def _take(self) -> None:
        while True:
            with self.lock:
                info = signal.sigtimedwait(STOP_SIGNALS, WAIT_S)
                # (a wait cut by SIGSTOP past its time comes back with no signal in it)
                signo = info.si_signo if info is not None else 0
                if signo in STOP_SIGNALS:
                    self.asked.set()
            if signo not in STOP_SIGNALS:
                continue
            on_stop = self.on_stop
            if on_stop is None:
                os._exit(128 + signo)
            timer = threading.Timer(STOP_GRACE_S, os._exit, (128 + signo,))
            timer.daemon = True
            timer.start()
            try:
                on_stop(signo)
            except BaseException:  # (nothing else would ever take these signals)
                log.exception("a stop signal could not stop the server cleanly")
                os._exit(128 + signo)


STOPS = Stops()

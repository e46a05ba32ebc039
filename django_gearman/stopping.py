"""SIGTERM and SIGINT for the loops that run until stopped (the scheduler, the outbox relayer).

The first signal asks the loop to stop once the pass under way is done
(`stopping` turns true and `wait()` returns at once); a second exits the
process at once, with status 128 + the signal's number.
"""

from __future__ import annotations

import logging
import os
import signal
import threading


class StopSignals:
    """Install as `with StopSignals(logger) as stop: while not stop.stopping: ...; stop.wait(seconds)`."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self.stopping = False
        self._received = 0
        self._wake = threading.Event()
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, less if a signal comes."""
        self._wake.wait(seconds)

    def _handle(self, signum, frame) -> None:
        self._received += 1
        name = signal.Signals(signum).name
        if self._received == 1:
            self.logger.warning("got %s: finishing this pass, then exiting (send it again to exit now)", name)
            self.stopping = True
            self._wake.set()
            return
        self.logger.warning("got %s again: exiting now", name)
        os._exit(128 + signum)

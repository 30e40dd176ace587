"""One call running on several ranks, and how its outcome is collected.

Each rank's outcome is either a value, an exception the function raised
(captured on the rank by ``rank_setup.call_captured``), or an error ipyparallel
reports (the function could not be unpickled, the engine died, ...). The
collection turns these into results in the requested rank order, or a
``RankFailure`` naming every failing rank, or a ``RankTimeout``.
"""

from __future__ import annotations

import time
from typing import Any

from ipyparallel.error import RemoteError

from .errors import LaunchError, RankError, RankFailure, RankTimeout
from .rank_setup import FAILED


class PendingRun:
    """Results of one call on several ranks, arriving asynchronously."""

    def __init__(self, async_results: dict[int, Any], what: str):
        self._pending = dict(async_results)  # rank -> ipyparallel AsyncResult
        self._what = what
        self._abandoned: dict[int, RankError] = {}  # ranks not waited for (their engine died)

    @property
    def ranks(self) -> list[int]:
        """The ranks this call runs on, in the order results are returned."""
        return list(self._pending)

    def ready(self) -> bool:
        """True when every rank has finished (successfully or not) or was abandoned."""
        return not self.running()

    def running(self) -> list[int]:
        """The ranks still running the call."""
        return [rank for rank, ar in self._pending.items() if rank not in self._abandoned and not ar.ready()]

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the ranks to finish; True when none runs."""
        deadline = time.monotonic() + timeout
        for rank in self.running():
            self._pending[rank].wait(max(0.0, deadline - time.monotonic()))
        return not self.running()

    def abandon(self, rank: int, error: RankError) -> None:
        """Stop waiting for ``rank`` (its engine died): it counts as failed with ``error``."""
        self._abandoned[rank] = error

    def stdout(self) -> dict[int, str]:
        """What each rank printed so far."""
        return {rank: ar.stdout or "" for rank, ar in self._pending.items()}

    def stderr(self) -> dict[int, str]:
        """What each rank wrote to its error stream so far."""
        return {rank: ar.stderr or "" for rank, ar in self._pending.items()}

    def get(self, timeout: float | None = None) -> list:
        """Results in rank order; RankFailure if some ranks raised.

        Waits at most ``timeout`` seconds overall (None: no limit) and raises
        RankTimeout naming the ranks still running.
        """
        check_timeout(timeout)
        self._wait(timeout)
        results, failures = {}, {}
        for rank, ar in self._pending.items():
            ok, value = (False, self._abandoned[rank]) if rank in self._abandoned else _outcome(ar)
            (results if ok else failures)[rank] = value
        if failures:
            raise RankFailure(failures, results)
        return [results[rank] for rank in self._pending]

    def _wait(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for rank, ar in self._pending.items():
            if rank in self._abandoned:
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ar.wait(remaining)
        late = self.running()
        if late:
            raise RankTimeout(
                f"rank(s) {', '.join(map(str, late))} did not finish {self._what} within "
                f"{timeout} s; they are still running (a long computation, or blocked in "
                f"a collective another rank never joined?); wait longer, or call "
                f"restart() to get fresh ranks.",
                late,
            )


def check_timeout(timeout) -> None:
    """LaunchError unless timeout is None or a number of seconds >= 0."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise LaunchError(
            f"timeout={timeout!r} is not a number of seconds >= 0; give e.g. timeout=30 "
            f"or timeout=None to wait as long as it takes."
        )


def _outcome(ar) -> tuple[bool, Any]:
    """(True, value) or (False, RankError) for one finished AsyncResult."""
    try:
        status, value = ar.get(0)
    except RemoteError as exc:
        name = exc.ename or type(exc).__name__
        return False, RankError(name, str(exc.evalue), exc.traceback or "")
    except Exception as exc:  # e.g. the engine died before answering
        return False, RankError(type(exc).__name__, str(exc), "")
    if status == FAILED:
        return False, value
    return True, value

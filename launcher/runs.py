"""One call running on several ranks, and how its outcome is collected.

Each rank's outcome is either a value, an exception the function raised
(captured on the rank by ``rank_setup.call_captured``), or an error ipyparallel
reports (the function could not be unpickled, the engine died, ...). The
collection turns these into results in the requested rank order, or a
``RankFailure`` naming every failing rank, or a ``RankTimeout``.
"""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any, Callable

from ipyparallel.error import RemoteError

from .errors import LaunchError, RankError, RankFailure, RankTimeout
from .rank_setup import FAILED, call_captured


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


_HISTORY_KEPT = 1000
"""Message ids the ipyparallel client keeps in its history (which only grows otherwise)."""


class _Reply:
    """One engine's reply to a call sent to several, read from its message future in the
    call's AsyncResult (`_children`, in engine order, which split() itself reads) as a
    one-engine AsyncResult is read (ready, wait, get, stdout, stderr). Why not split(): it
    builds a whole AsyncResult per engine, with futures, events and callbacks, which cost
    0.3-0.6 ms of every cell here."""

    def __init__(self, future) -> None:
        self._future = future  # an ipyparallel MessageFuture: the reply, or the engine's error

    def ready(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None) -> bool:
        return not concurrent.futures.wait([self._future], timeout).not_done

    def get(self, timeout: float | None) -> Any:
        value = self._future.result(timeout)
        if isinstance(value, RemoteError):  # ipyparallel answers an engine's error so
            raise value
        return value

    @property
    def stdout(self) -> str:
        return self._future.output.metadata.get("stdout", "")

    @property
    def stderr(self) -> str:
        return self._future.output.metadata.get("stderr", "")


class EngineViews:
    """How calls reach the engines: through ipyparallel DirectViews, one per set of engines,
    made once (making one costs more than a call), each call pickled once for all of them."""

    def __init__(self, client) -> None:
        self.client = client
        self._views: dict[tuple[int, ...], Any] = {}

    def submit(self, engine_of: dict[int, int], fn: Callable, args: tuple, kwargs: dict, name: str) -> PendingRun:
        """Send fn to the engines `engine_of` maps to (keys of the result: ranks or engine ids)."""
        try:
            view = self._view(tuple(engine_of.values()))
            calls = dict(zip(engine_of, map(_Reply, view.apply_async(call_captured, fn, args, kwargs)._children)))
        except IndexError as exc:  # ipyparallel: "No such engine"
            raise LaunchError(
                f"could not send {name} to the ranks: an engine is gone ({exc}); heal() "
                f"replaces dead engines, restart() starts all of them afresh."
            ) from exc
        except Exception as exc:
            raise LaunchError(
                f"could not send {name} to the ranks: {exc!r}; the function and its "
                f"arguments must be picklable (module-level functions are)."
            ) from exc
        del self.client.history[:-_HISTORY_KEPT]  # the client lists every message it ever sent
        return PendingRun(calls, name)

    def _view(self, engines: tuple[int, ...]):
        if engines not in self._views:  # one engine: its results unwrapped, as a list of one
            self._views[engines] = self.client[engines[0] if len(engines) == 1 else list(engines)]
        return self._views[engines]


def check_on_ranks(on_ranks, world: int) -> list[int]:
    """The ranks a run is for, checked: all of 0..world-1 when `on_ranks` is None."""
    if on_ranks is None:
        return list(range(world))
    try:
        ranks = list(on_ranks) if not isinstance(on_ranks, (str, bytes)) else []
    except TypeError:  # not iterable, e.g. on_ranks=1
        ranks = []
    if not ranks or any(
        isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < world for r in ranks
    ):
        raise LaunchError(
            f"on_ranks={on_ranks!r} is not a non-empty list of ranks in 0..{world - 1}; "
            f"give e.g. on_ranks=[0] or leave it out to run on all ranks."
        )
    if len(set(ranks)) != len(ranks):
        raise LaunchError(f"on_ranks={on_ranks!r} names a rank twice; list each rank once.")
    return ranks

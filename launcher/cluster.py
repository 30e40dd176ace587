"""RankCluster: the one object users handle to start, drive and stop ranks.

A rank is an ipyparallel engine that joined a torch.distributed process
group. ``start()`` brings up the controller and engines with ipyparallel's own
launchers, places ranks (``placement``), and has every engine join the group
(``rank_setup.init_rank``). ``run()`` calls a function on all ranks at once and
returns results in rank order. ``stop()`` leaves the group and stops every
process; a reaper process does the same if the caller dies without stopping.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
import weakref
from typing import Callable, Sequence

import psutil

from . import ipp_processes, rank_setup
from .config import LaunchConfig
from .errors import LaunchError
from .placement import EngineFacts, RankPlacement, place_ranks
from .reaper import ReaperHandle
from .runs import PendingRun, check_timeout

log = logging.getLogger(__name__)

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""Put on the engines' sys.path so they import this very ``launcher`` package."""
INIT_GRACE_S = 30.0
"""Extra wait for init_process_group beyond its own timeout (imports, rendezvous)."""
TEARDOWN_TIMEOUT_S = 10.0
"""How long stop() lets ranks leave the process group before killing them."""

_LIVE: "weakref.WeakSet[RankCluster]" = weakref.WeakSet()


@atexit.register
def _stop_live_clusters() -> None:
    """Stop clusters the program forgot to stop, so exit leaves no processes."""
    for cluster in list(_LIVE):
        cluster.stop()


class RankCluster:
    """Ranks of a torch.distributed process group, on ipyparallel engines.

    Use as ``with RankCluster(LaunchConfig(ranks=4)) as ranks: ranks.run(fn)``
    or call ``start()`` / ``stop()`` explicitly.
    """

    def __init__(self, config: LaunchConfig | None = None):
        if config is None:
            config = LaunchConfig()
        if not isinstance(config, LaunchConfig):
            raise LaunchError(
                f"RankCluster needs a LaunchConfig, got {config!r}; "
                f"build one with LaunchConfig(ranks=..., backend=...)."
            )
        self._config = config
        self._reset()

    def _reset(self) -> None:
        self._cluster = None
        self._client = None
        self._reaper: ReaperHandle | None = None
        self._profile_dir: str | None = None
        self._placements: list[RankPlacement] = []
        self._pids: set[int] = set()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return (
            f"RankCluster(ranks={self.world_size}, backend={self.backend!r}, "
            f"engines={self._config.engines!r}, {state})"
        )

    def __enter__(self) -> "RankCluster":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def config(self) -> LaunchConfig:
        return self._config

    @property
    def world_size(self) -> int:
        """Number of ranks (the configured count until started)."""
        return len(self._placements) or self._config.resolved_ranks

    @property
    def backend(self) -> str:
        """The torch.distributed backend of the ranks: "gloo" or "nccl"."""
        return self._config.resolved_backend

    @property
    def placements(self) -> list[RankPlacement]:
        """Where each rank lives, in rank order (empty when not running)."""
        return list(self._placements)

    @property
    def is_running(self) -> bool:
        """True between a successful start() and stop()."""
        return bool(self._placements) and self._client is not None

    @property
    def client(self):
        """The ipyparallel Client of the running engines (for %%px beside %%torchtcl)."""
        self._require_running()
        return self._client

    @property
    def local_pids(self) -> tuple[int, ...]:
        """Pids of this machine's controller, engines and their helper processes.

        These are what stop() ends and what the reaper kills if the caller dies.
        """
        return tuple(sorted(self._pids))

    def start(self) -> "RankCluster":
        """Start the engines and join them into a process group; returns self.

        Raises LaunchError (after cleaning up everything it started) when the
        engines do not come up within ``start_timeout_s`` or cannot join.
        """
        if self.is_running:
            return self
        deadline = time.monotonic() + self._config.start_timeout_s
        self._profile_dir = tempfile.mkdtemp(prefix="launcher-profile-")
        self._reaper = ReaperHandle(self._profile_dir)
        _LIVE.add(self)
        try:
            self._start_processes(deadline)
            facts = self._collect_facts(deadline)
            placements = place_ranks(facts, self.backend)
            self._join_process_group(placements)
        except BaseException as exc:
            logs = ipp_processes.log_tail(self._profile_dir)
            self._cleanup()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and friends: cleaned up, pass on
            raise _start_error(self._config, exc, logs) from exc
        return self

    def run(self, fn: Callable, *args, on_ranks: Sequence[int] | None = None,
            timeout: float | None = None, **kwargs) -> list:
        """Call ``fn(*args, **kwargs)`` on every rank at once; results in rank order.

        ``fn`` must be picklable (module-level functions are) and importable on
        the engines. ``on_ranks`` picks a subset (results in that order);
        ``timeout`` (seconds) raises RankTimeout when ranks are still running.
        Raises RankFailure naming every rank where ``fn`` raised.
        """
        check_timeout(timeout)  # before anything runs
        return self.run_async(fn, *args, on_ranks=on_ranks, **kwargs).get(timeout)

    def run_async(self, fn: Callable, *args, on_ranks: Sequence[int] | None = None,
                  **kwargs) -> PendingRun:
        """Like run(), but returns a PendingRun at once; its get() gives the results."""
        self._require_running()
        ranks = self._check_on_ranks(on_ranks)
        engine_of = {p.rank: p.engine_id for p in self._placements}
        name = getattr(fn, "__qualname__", repr(fn))
        return self._submit({r: engine_of[r] for r in ranks}, fn, args, kwargs, name)

    def interrupt_ranks(self) -> None:
        """Send SIGINT to the engines: running Python code gets KeyboardInterrupt.

        The pending run then fails with RankFailure; the ranks stay usable.
        (A rank blocked inside a collective returns only when it times out.)
        """
        self._require_running()
        self._cluster.signal_engines_sync(signal.SIGINT)

    def restart(self) -> "RankCluster":
        """Stop and start again with the same config: fresh processes, new group."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        """Leave the process group on all ranks, stop every process, remove files.

        Idempotent; safe to call on a cluster that never started.
        """
        if self._reaper is None and self._cluster is None:
            return
        if self.is_running:
            self._teardown_ranks()
        self._cleanup()

    # -- start steps ---------------------------------------------------------

    def _start_processes(self, deadline: float) -> None:
        self._cluster = ipp_processes.make_cluster(self._config, self._profile_dir)
        self._cluster.start_controller_sync()
        self._watch(ipp_processes.launcher_pids(self._cluster))
        self._cluster.start_engines_sync(self._config.resolved_ranks)
        self._watch(ipp_processes.launcher_pids(self._cluster))
        self._client = ipp_processes.connect_when_up(
            self._cluster, self._config.resolved_ranks, deadline
        )

    def _collect_facts(self, deadline: float) -> list[EngineFacts]:
        engine_ids = sorted(self._client.ids)
        ipp_processes.make_importable(self._client, engine_ids, PACKAGE_PARENT)
        pending = self._submit(
            {e: e for e in engine_ids}, rank_setup.describe_engine, (), {}, "describe_engine"
        )
        reports = pending.get(timeout=max(0.0, deadline - time.monotonic()))
        here = socket.gethostname()
        local = [r["pid"] for r in reports if r["host"] == here]
        self._watch(local)
        self._watch(_descendants(local))  # e.g. ipyparallel's per-engine nanny
        return [
            EngineFacts(engine_id=e, host=r["host"], gpu_count=r["gpu_count"])
            for e, r in zip(engine_ids, reports)
        ]

    def _join_process_group(self, placements: list[RankPlacement]) -> None:
        first = placements[0]
        port = self._submit(
            {0: first.engine_id}, rank_setup.find_free_port, (first.master_addr,), {},
            "find_free_port",
        ).get(timeout=INIT_GRACE_S)[0]
        timeout_s = self._config.timeout_s
        calls = {
            p.rank: self._client[p.engine_id].apply_async(
                rank_setup.call_captured, rank_setup.init_rank,
                (p, self.backend, port, timeout_s), {},
            )
            for p in placements
        }
        PendingRun(calls, "init_process_group").get(timeout=timeout_s + INIT_GRACE_S)
        self._placements = placements

    # -- helpers -------------------------------------------------------------

    def _submit(self, engine_of: dict[int, int], fn: Callable, args: tuple,
                kwargs: dict, name: str) -> PendingRun:
        """Send fn to the engines (keys of the result: ranks or engine ids)."""
        try:
            calls = {
                key: self._client[engine].apply_async(rank_setup.call_captured, fn, args, kwargs)
                for key, engine in engine_of.items()
            }
        except Exception as exc:
            raise LaunchError(
                f"could not send {name} to the ranks: {exc!r}; the function and its "
                f"arguments must be picklable (module-level functions are)."
            ) from exc
        return PendingRun(calls, name)

    def _require_running(self) -> None:
        if not self.is_running:
            raise LaunchError(f"{self!r} is not running; call start() first.")

    def _check_on_ranks(self, on_ranks: Sequence[int] | None) -> list[int]:
        world = len(self._placements)
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

    def _watch(self, pids) -> None:
        new = {int(p) for p in pids} - self._pids
        self._pids |= new
        if self._reaper is not None:
            self._reaper.watch(sorted(new))

    def _teardown_ranks(self) -> None:
        try:
            self.run(rank_setup.teardown_rank, timeout=TEARDOWN_TIMEOUT_S)
        except LaunchError as exc:  # RankFailure, RankTimeout included
            log.warning("some ranks did not leave the process group cleanly: %s", exc)

    def _cleanup(self) -> None:
        """Stop whatever was started, remove the profile dir, end the reaper."""
        self._watch(_descendants(self._pids))  # helpers outlive their engines briefly
        for problem in ipp_processes.stop_cluster(self._cluster, self._client):
            log.warning("while stopping %r: %s", self, problem)
        if self._profile_dir:
            shutil.rmtree(self._profile_dir, ignore_errors=True)
        if self._reaper is not None:
            self._reaper.finish()  # kills any survivor it was told about
        _LIVE.discard(self)
        self._reset()


def _descendants(pids) -> list[int]:
    """Pids of the children (recursively) of local processes, where visible."""
    found = []
    for pid in pids:
        try:
            found += [child.pid for child in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            pass
    return found


def _start_error(config: LaunchConfig, exc: Exception, logs: str) -> LaunchError:
    what = (
        f"could not start {config.resolved_ranks} rank(s) with engines={config.engines!r}, "
        f"backend={config.resolved_backend!r}"
    )
    detail = str(exc) if isinstance(exc, LaunchError) else repr(exc)
    message = f"{what}: {detail}\nEverything started was stopped."
    if logs:
        message += f"\nLast lines of the controller/engine logs:\n{logs}"
    return LaunchError(message)

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
import dataclasses
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
import weakref
from typing import Callable, Sequence

from . import ipp_processes, rank_setup
from .cluster_stores import ClusterStores
from .config import LOCAL_ENGINES, LaunchConfig
from .errors import LaunchError, start_error
from .placement import EngineFacts, RankPlacement, place_ranks
from .reaper import ReaperHandle
from .runs import EngineViews, PendingRun, check_on_ranks, check_timeout

log = logging.getLogger(__name__)

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""Put on the engines' sys.path so they import this very ``launcher`` package."""
INIT_GRACE_S = 30.0
"""Extra wait for init_process_group beyond its own timeout (imports, rendezvous)."""
TEARDOWN_TIMEOUT_S = 10.0
"""How long stop() lets ranks leave the process group before killing them."""

FORKING = "forking"
REGISTERING = "waiting for the engines to register"
QUIET_STAGES = (FORKING, REGISTERING)
"""How the stages start from which a start spawns no process of its own (for callers that
wait to do work that must not overlap a spawn)."""

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
            raise LaunchError(f"RankCluster needs a LaunchConfig, got {config!r}; "
                              "build one with LaunchConfig(ranks=..., backend=...).")
        self._config = config
        self._reset()

    def _reset(self, keep_profile: bool = False) -> None:
        """Forget the processes; with keep_profile, not the profile dir, its reaper and its
        warm parent (a restart reuses them)."""
        self._cluster = None
        self._client = None
        if not keep_profile:
            self._reaper: ReaperHandle | None = None
            self._profile_dir: str | None = None
        self._placements: list[RankPlacement] = []
        self._pids: set[int] = set()
        self._engine_pids: dict[int, int] = {}  # engine id -> pid, for engines on this host
        self._engines: EngineViews | None = None  # how calls reach the engines
        if getattr(self, "_stores", None) is not None:
            self._stores.close()
        self._stores = ClusterStores()
        self._generation = 0

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"RankCluster(ranks={self.world_size}, backend={self.backend!r}, engines={self._config.engines!r}, {state})"

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
    def control_store(self):
        """The TCP store this process serves for the ranks: it outlives any of them, carries
        each generation of the process group's rendezvous, and whatever the ranks tell
        each other (a client of it can read and write the same keys)."""
        self._require_running()
        return self._stores.control

    @property
    def message_store(self):
        """The store the ranks and this process tell each other what they do through: one
        in shared memory when every rank runs on this host (a few microseconds a call),
        else the TCP control store (a round trip to this process each)."""
        self._require_running()
        return self._stores.message

    @property
    def generation(self) -> int:
        """How many times the process group was rebuilt (0: the one made at start)."""
        return self._generation

    @property
    def local_pids(self) -> tuple[int, ...]:
        """Pids of this machine's controller, engines and their helper processes.

        These are what stop() ends and what the reaper kills if the caller dies.
        """
        return tuple(sorted(self._pids))

    def start(self, on_stage: Callable[[str], None] | None = None) -> "RankCluster":
        """Start the engines and join them into a process group; returns self.

        ``on_stage`` hears what the start is doing now (for a progress line).
        Raises LaunchError (after cleaning up everything it started) when the
        engines do not come up within ``start_timeout_s`` or cannot join.
        """
        if self.is_running:
            return self
        self._profile_dir = tempfile.mkdtemp(prefix="launcher-profile-")
        try:
            self._reaper = ReaperHandle(self._profile_dir)
        except OSError as exc:  # nothing else started yet: the profile dir is all there is to remove
            shutil.rmtree(self._profile_dir, ignore_errors=True)
            self._reset()
            raise LaunchError(f"could not start the reaper process that guards the ranks: {exc}") from exc
        _LIVE.add(self)
        return self._bring_up(on_stage)

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
        ranks = check_on_ranks(on_ranks, len(self._placements))
        engine_of = {p.rank: p.engine_id for p in self._placements}
        name = getattr(fn, "__qualname__", repr(fn))
        return self._engines.submit({r: engine_of[r] for r in ranks}, fn, args, kwargs, name)

    def dead_ranks(self) -> dict[int, str]:
        """Ranks whose engine process has ended, with what was seen: at once for engines on
        this host (their pid is gone), once the controller drops them for the others."""
        self._require_running()
        dead = {}
        registered = set(self._client.ids)
        for p in self._placements:
            pid = self._engine_pids.get(p.engine_id)
            if pid is not None and not ipp_processes.alive(pid):
                dead[p.rank] = f"its engine process {pid} ended"
            elif pid is None and p.engine_id not in registered:
                dead[p.rank] = f"its engine {p.engine_id} on {p.host} stopped answering the controller"
        return dead

    def rank_pids(self) -> dict[int, int]:
        """rank -> pid of its engine process, for the ranks on this host."""
        self._require_running()
        return {p.rank: self._engine_pids[p.engine_id] for p in self._placements if p.engine_id in self._engine_pids}

    def heal(self) -> list[int]:
        """A new process group on the same engines, after a fault broke the old one.

        Each dead rank gets a fresh engine first (whatever the old one held is lost); the
        living ones keep their processes and everything in them. Returns the ranks that
        got a fresh engine.
        """
        self._require_running()
        dead = sorted(self.dead_ranks())
        deadline = time.monotonic() + self._config.start_timeout_s
        for rank in dead:
            self._replace_engine(rank, deadline)
        self._generation += 1
        self._join_process_group(self._placements)
        return dead

    def interrupt_ranks(self) -> None:
        """Send SIGINT to every living engine: running Python code gets KeyboardInterrupt.

        Engines on this host are signalled one by one by pid (a dead one is skipped), the
        others through their launcher.
        """
        self._require_running()
        local = self.rank_pids()
        for pid in local.values():
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        if len(local) < len(self._placements):
            self._cluster.signal_engines_sync(signal.SIGINT)

    def restart(self) -> "RankCluster":
        """Fresh engine processes and a new process group, with the same config. Local
        engines are forked again from the warm parent of this cluster, which is kept (as
        are its profile dir and reaper); other engines are started as at the first start."""
        parent = ipp_processes.warm_parent_pid(self._profile_dir) if self._profile_dir else None
        if not self.is_running or parent is None:
            self.stop()
            return self.start()
        self._teardown_ranks()
        ipp_processes.kill(self._stop_processes(keep=parent))  # no reaper.finish() now: ended here
        self._reset(keep_profile=True)
        self._watch([parent])
        return self._bring_up(None)

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

    def _bring_up(self, on_stage: Callable[[str], None] | None) -> "RankCluster":
        """Controller, engines, placement, process group, in the profile dir made for them;
        on failure everything is stopped (profile dir and reaper included)."""
        deadline = time.monotonic() + self._config.start_timeout_s
        stage = on_stage or (lambda what: None)
        try:
            self._start_processes(deadline, stage)
            stage("placing ranks")
            facts = self._collect_facts(self._client.ids, deadline)
            placements = place_ranks(facts, self.backend)
            here = socket.gethostname()
            self._stores.serve(self._cluster.controller_ip, self._config.timeout_s, self._profile_dir,
                               all_here=self._config.shared_board and all(f.host == here for f in facts))
            stage("joining the process group")
            self._join_process_group(placements)
        except BaseException as exc:
            logs = ipp_processes.log_tail(self._profile_dir)
            self._cleanup()
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and friends: cleaned up, pass on
            raise start_error(self._config, exc, logs) from exc
        return self

    def _start_processes(self, deadline: float, stage: Callable[[str], None]) -> None:
        """Stages: starting the controller, starting (local: forking) N engines (which waits
        for the warm parent's imports), waiting for the engines to register. From the
        forking stage on, this process starts no process of its own."""
        forked = self._config.engines == LOCAL_ENGINES
        if forked and ipp_processes.warm_parent_pid(self._profile_dir) is None:
            self._watch([ipp_processes.start_warm_parent(self._config, self._profile_dir, PACKAGE_PARENT)])
        self._cluster = ipp_processes.make_cluster(self._config, self._profile_dir)
        stage("starting the controller")
        self._cluster.start_controller_sync()
        self._watch(ipp_processes.launcher_pids(self._cluster))
        stage(f"{FORKING if forked else 'starting'} {self._config.resolved_ranks} engines")
        self._cluster.start_engines_sync(self._config.resolved_ranks)
        self._watch(ipp_processes.launcher_pids(self._cluster))
        stage(REGISTERING)
        self._client = ipp_processes.connect_when_up(self._cluster, self._config.resolved_ranks, deadline)
        self._engines = EngineViews(self._client)

    def _collect_facts(self, engine_ids, deadline: float) -> list[EngineFacts]:
        engine_ids = sorted(engine_ids)
        ipp_processes.make_importable(self._client, engine_ids, PACKAGE_PARENT)
        pending = self._engines.submit({e: e for e in engine_ids}, rank_setup.describe_engine,
                                       (self._cluster.controller_ip,), {}, "describe_engine")
        reports = pending.get(timeout=max(0.0, deadline - time.monotonic()))
        here = socket.gethostname()
        local = {e: r["pid"] for e, r in zip(engine_ids, reports) if r["host"] == here}
        self._engine_pids.update(local)
        self._watch(local.values())
        self._watch(ipp_processes.descendants(local.values()))  # e.g. ipyparallel's per-engine nanny
        return [EngineFacts.of_report(e, r) for e, r in zip(engine_ids, reports)]

    def _join_process_group(self, placements: list[RankPlacement]) -> None:
        timeout_s = self._config.timeout_s
        calls = {
            p.rank: self._client[p.engine_id].apply_async(
                rank_setup.call_captured, rank_setup.init_rank,
                (p, self.backend, *self._stores.address, self._generation, timeout_s,
                 self._stores.shared_path), {},
            )
            for p in placements
        }
        PendingRun(calls, "init_process_group").get(timeout=timeout_s + INIT_GRACE_S)
        self._placements = list(placements)

    def _replace_engine(self, rank: int, deadline: float) -> None:
        """Start one engine and give it `rank` (its placement, a new engine id)."""
        known = set(self._client.ids)
        self._cluster.start_engines_sync(1)
        self._watch(ipp_processes.launcher_pids(self._cluster))
        new = ipp_processes.wait_for_new_engine(self._client, known, deadline)
        self._collect_facts([new], deadline)
        old = self._placements[rank]
        self._engine_pids.pop(old.engine_id, None)
        self._placements[rank] = dataclasses.replace(old, engine_id=new)

    # -- helpers -------------------------------------------------------------

    def _require_running(self) -> None:
        if not self.is_running:
            raise LaunchError(f"{self!r} is not running; call start() first.")

    def _watch(self, pids) -> None:
        new = {int(p) for p in pids} - self._pids
        self._pids |= new
        if self._reaper is not None:
            self._reaper.watch(sorted(new))

    def _teardown_ranks(self) -> None:
        dead = self.dead_ranks()
        alive = [p.rank for p in self._placements if p.rank not in dead]
        if not alive:
            return
        try:
            self.run(rank_setup.teardown_rank, on_ranks=alive, timeout=TEARDOWN_TIMEOUT_S)
        except LaunchError as exc:  # RankFailure, RankTimeout included
            log.warning("some ranks did not leave the process group cleanly: %s", exc)

    def _stop_processes(self, keep: int | None = None) -> list[int]:
        """Stop the engines and the controller; returns the pids of this cluster's processes
        still alive (but ``keep``), for the caller to end."""
        self._watch(ipp_processes.descendants(self._pids))  # helpers outlive their engines briefly
        for problem in ipp_processes.stop_cluster(self._cluster, self._client):
            log.warning("while stopping %r: %s", self, problem)
        left = ipp_processes.processes_of(self._profile_dir) if self._profile_dir else []
        return [pid for pid in left if pid != keep]

    def _cleanup(self) -> None:
        """Stop whatever was started, remove the profile dir, end the reaper."""
        self._watch(self._stop_processes())  # the reaper ends any survivor
        if self._profile_dir:
            ipp_processes.stop_warm_parent(self._profile_dir)
            shutil.rmtree(self._profile_dir, ignore_errors=True)
        if self._reaper is not None:
            self._reaper.finish()  # kills any survivor it was told about
        _LIVE.discard(self)
        self._reset()



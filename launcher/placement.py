"""Turn what the engines report about themselves into rank assignments.

Pure functions with no ipyparallel or torch imports, so the layout rules
(which engine gets which rank, which GPU, which address its sockets use) can be
tested for multi-host layouts without starting any process.

Rules: engines are taken in their launcher's order (the rank mpiexec or srun
gave the process, when every engine has a distinct one; else the engine id);
hosts are ordered by their first engine, engines within a host keep that order;
a rank is the position in it, a local rank the position within its host. Ranks
on one host are contiguous, as torchrun does it. A host's ranks listen on the
address its first engine reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .errors import LaunchError
from .terms import CPU_DEVICE, GLOO, LOOPBACK_ADDR, NCCL


@dataclass(frozen=True)
class EngineFacts:
    """What one engine reports: its ipyparallel id, host name, GPU count, the address of
    its host on the route to the caller, and the rank its launcher gave its process."""

    engine_id: int
    host: str
    gpu_count: int = 0
    address: str = LOOPBACK_ADDR
    launch_rank: int | None = None

    @classmethod
    def of_report(cls, engine_id: int, report: dict) -> "EngineFacts":
        """From what rank_setup.describe_engine reported."""
        return cls(engine_id, report["host"], report["gpu_count"], report["address"], report["launch_rank"])


@dataclass(frozen=True)
class RankPlacement:
    """Where one rank lives and how it joins the process group."""

    engine_id: int
    rank: int
    local_rank: int
    local_world_size: int
    world_size: int
    host: str
    device: str
    address: str


def group_by_host(facts: Iterable[EngineFacts]) -> dict[str, list[EngineFacts]]:
    """Engines per host, in launcher order (see the module's rules)."""
    facts = list(facts)
    launch_ranks = [f.launch_rank for f in facts]
    by_launcher = None not in launch_ranks and len(set(launch_ranks)) == len(facts)
    hosts: dict[str, list[EngineFacts]] = {}
    for fact in sorted(facts, key=lambda f: f.launch_rank if by_launcher else f.engine_id):
        hosts.setdefault(fact.host, []).append(fact)
    return hosts


def place_ranks(facts: Sequence[EngineFacts], backend: str) -> list[RankPlacement]:
    """Assign a rank, local rank, device and listening address to every engine.

    Returns the placements in rank order. Raises LaunchError for an empty
    input, duplicate engine ids, an unresolved backend, or (nccl) a host with
    more engines than GPUs.
    """
    _check_facts(facts, backend)
    hosts = group_by_host(facts)
    world_size = len(facts)
    placements = []
    for host, engines in hosts.items():
        if backend == NCCL:
            _check_gpus(host, engines)
        for local_rank, fact in enumerate(engines):
            placements.append(
                RankPlacement(
                    engine_id=fact.engine_id,
                    rank=len(placements),
                    local_rank=local_rank,
                    local_world_size=len(engines),
                    world_size=world_size,
                    host=host,
                    device=_device(backend, local_rank),
                    address=engines[0].address,
                )
            )
    return placements


def _check_facts(facts: Sequence[EngineFacts], backend: str) -> None:
    if backend not in (GLOO, NCCL):
        raise LaunchError(
            f"cannot place ranks for backend={backend!r}; resolve it to 'gloo' or "
            f"'nccl' first (LaunchConfig.resolved_backend)."
        )
    if not facts:
        raise LaunchError(
            "no engines to place ranks on: none reported; check that the engines "
            "started (see the engine logs) and that ranks >= 1."
        )
    ids = [fact.engine_id for fact in facts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise LaunchError(
            f"engine ids {duplicates} are reported more than once; "
            f"each engine must report exactly once."
        )


def _check_gpus(host: str, engines: list[EngineFacts]) -> None:
    gpus = min(fact.gpu_count for fact in engines)
    if len(engines) > gpus:
        raise LaunchError(
            f"host {host!r} runs {len(engines)} engines but has only {gpus} CUDA "
            f"GPU(s); NCCL needs one GPU per rank: start fewer ranks on that host "
            f"or use backend='gloo'."
        )


def _device(backend: str, local_rank: int) -> str:
    return f"cuda:{local_rank}" if backend == NCCL else CPU_DEVICE

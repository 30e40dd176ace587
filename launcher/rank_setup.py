"""Code that runs ON the engines: report facts, join the process group, run calls.

Kept in its own importable module (not closures) so ipyparallel sends these
functions by reference and the engines import the same code the caller has.
Heavy imports (torch) happen inside the functions, on the engines only.
"""

from __future__ import annotations

import os
import socket
import traceback
from datetime import timedelta
from typing import Any, Callable

from . import addresses, terms
from .errors import RankError
from .placement import RankPlacement

OK = "ok"
FAILED = "failed"


def describe_engine(caller_address: str) -> dict:
    """Facts the caller needs to place this engine: host, GPU count, pid, this host's
    address on the route to the caller (where its rank's sockets will listen), and the
    rank its launcher (srun, mpiexec) gave the process, if any."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    launch_rank = next((os.environ[v] for v in terms.LAUNCH_RANK_VARS if os.environ.get(v, "").isdigit()), None)
    return {"host": os.environ.get(terms.ENGINE_HOST) or socket.gethostname(), "gpu_count": gpus,
            "pid": os.getpid(), "address": addresses.route_source(caller_address),
            "launch_rank": None if launch_rank is None else int(launch_rank)}


def export_rank_env(placement: RankPlacement, store_addr: str, store_port: int,
                    shared_store: str | None = None) -> None:
    """Set the torchrun-style env vars, for code on the rank that reads them, and where the
    shared-memory store is when there is one."""
    os.environ[terms.RANK] = str(placement.rank)
    os.environ[terms.WORLD_SIZE] = str(placement.world_size)
    os.environ[terms.LOCAL_RANK] = str(placement.local_rank)
    os.environ[terms.LOCAL_WORLD_SIZE] = str(placement.local_world_size)
    os.environ[terms.MASTER_ADDR] = store_addr
    os.environ[terms.MASTER_PORT] = str(store_port)
    if shared_store:
        os.environ[terms.SHARED_STORE] = shared_store
    else:
        os.environ.pop(terms.SHARED_STORE, None)


def init_rank(placement: RankPlacement, backend: str, store_addr: str, store_port: int,
              generation: int, timeout_s: float, shared_store: str | None = None) -> int:
    """Join the process group as ``placement.rank``; returns the rank.

    The rendezvous goes through the caller's control store, under a prefix of its own
    for each generation of the group, so a rebuilt group never meets the keys of an old
    one. A rank already in a group (a rebuild after a fault) leaves it first. CPU ranks
    share the host's cores (no oversubscription); GPU ranks bind their device before
    anything else touches CUDA.
    """
    import torch
    import torch.distributed as dist

    export_rank_env(placement, store_addr, store_port, shared_store)
    if placement.device == terms.CPU_DEVICE:
        cores = os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // placement.local_world_size))
    else:
        torch.cuda.set_device(placement.local_rank)
    addresses.listen_on(placement.address)  # gloo's and NCCL's sockets: on this host's address only
    if dist.is_initialized():
        dist.destroy_process_group()
    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(store_addr, store_port, None, False, timeout=timeout)
    dist.init_process_group(
        backend,
        store=dist.PrefixStore(f"pg{generation}", store),
        rank=placement.rank,
        world_size=placement.world_size,
        timeout=timeout,
    )
    return dist.get_rank()


def teardown_rank() -> bool:
    """Leave the process group if joined; True when there was one to leave."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False


def call_captured(fn: Callable, args: tuple, kwargs: dict) -> tuple[str, Any]:
    """Run ``fn`` and return (OK, result) or (FAILED, RankError).

    Capturing here gives the caller the exception type, message and the
    rank's own traceback as plain strings, whatever the exception class.
    """
    try:
        return OK, fn(*args, **kwargs)
    except Exception as exc:  # reported to the caller, rank stays usable
        return FAILED, RankError(type(exc).__name__, str(exc), traceback.format_exc())

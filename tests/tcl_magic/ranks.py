"""Running Tcl on every rank of a real cluster from a test."""
from __future__ import annotations

import torch

from tcl_magic import remote
from tcl_magic.results import CellResult


def fresh(cluster) -> None:
    """Every rank starts a new session: no variables, handles or group names left over."""
    cluster.run(remote.reset_session)


def on_all(cluster, source: str) -> list[CellResult]:
    return cluster.run(remote.run_tcl, source, timeout=120)


def values(cluster, source: str) -> list[str]:
    """The result of `source` on every rank; a Tcl error on any rank fails the test."""
    results = on_all(cluster, source)
    for r in results:
        assert r.error is None, f"rank {r.rank}: {r.error.info}"
    return [r.result for r in results]


def tcl_list(t: torch.Tensor) -> str:
    """What torch::tensor_to_list prints for a tensor."""
    return " ".join(str(v) for v in t.reshape(-1).tolist())

"""What a rank tells the notebook about itself at the end of a cell: where it runs, the
memory it holds, the cell's collectives over time, and the values of its small tensors.

Gathered on the rank because only the rank can see them; small, so that it travels with
the cell's result at no noticeable cost.
"""
from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

import psutil
import torch

from .results import RankFacts, TensorSummary

if TYPE_CHECKING:
    from .session import TclSession

STATS_CAP = 1 << 20
"""Tensors of at most this many elements get min/max/mean (larger ones would cost time)."""

_PROCESS: list[psutil.Process] = []


def rank_facts(session: "TclSession", tensors: list[TensorSummary]) -> RankFacts:
    """This rank's facts for the cell that just ended in `session`."""
    if not _PROCESS:
        _PROCESS.append(psutil.Process())
    comm, agreement = session.comm, session.comm.agreement
    device = comm.device
    cuda = None
    if device.type == "cuda" and torch.cuda.is_initialized():
        cuda = torch.cuda.memory_allocated(device)
    return RankFacts(socket.gethostname(), str(device), _PROCESS[0].memory_info().rss, cuda,
                     agreement.cell_started, time.time(), tuple(agreement.timeline.events),
                     tensor_stats(session, tensors), agreement.timeline.dropped)


def tensor_stats(session: "TclSession", tensors: list[TensorSummary]) -> dict[str, tuple[float, float, float]]:
    """variable -> (min, max, mean) of the real, non-empty tensors up to STATS_CAP elements."""
    stats = {}
    for summary in tensors:
        t = session.handles.find(summary.handle)
        if t is None or not 0 < t.numel() <= STATS_CAP or t.is_complex():
            continue
        values = t.detach().to(torch.float64)
        low, high, mean = torch.stack([values.min(), values.max(), values.mean()]).tolist()
        stats[summary.variable] = (low, high, mean)
    return stats

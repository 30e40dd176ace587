"""What the benchmarks run on each rank: our Tcl command and the raw torch.distributed call,
interleaved on the same data, so that both see the same machine noise."""
from __future__ import annotations

import gc
import threading
import time

import torch
import torch.distributed as dist

from tcl_magic.remote import rank_session


def _timed(fn) -> float:
    dist.barrier()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def scatter_times(elements: int, repeats: int, src: int = 0) -> dict:
    """Seconds per repeat for torch::distributed_scatter and for dist.scatter of the same data."""
    session = rank_session()
    rank, world = dist.get_rank(), dist.get_world_size()
    source = torch.randn(elements) if rank == src else torch.zeros(1)
    session.set_variable("source", source)
    chunks = list(source.tensor_split(world)) if rank == src else None

    def ours() -> None:
        result = session.eval(f"set chunk [torch::distributed_scatter $source {src}]")
        if result.error is not None:
            raise RuntimeError(result.error.info)

    def raw() -> None:
        # a fresh output each call, as any function that hands back a new chunk must allocate
        dist.scatter(torch.empty(elements // world), chunks, src=src)

    ours(), raw()  # warm up both paths (connections, allocator)
    timings = {"ours": [], "raw": []}
    for _ in range(repeats):
        timings["ours"].append(_timed(ours))
        session.eval("torch::tensor_free $chunk")
        timings["raw"].append(_timed(raw))
    return timings


class _PeakRss:
    """Samples this process's resident memory in a thread: the peak above a baseline."""

    def __init__(self) -> None:
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.0002)

    def __enter__(self) -> "_PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def scatter_peak_memory(elements: int, src: int = 0) -> dict:
    """Extra resident bytes while one scatter runs, and the bytes of this rank's chunk."""
    session = rank_session()
    rank, world = dist.get_rank(), dist.get_world_size()
    session.set_variable("source", torch.randn(elements) if rank == src else torch.zeros(1))
    session.eval("foreach h [info vars ::chunk*] {catch {torch::tensor_free [set $h]}}")
    gc.collect()
    dist.barrier()
    with _PeakRss() as rss:
        session.eval(f"set chunk [torch::distributed_scatter $source {src}]")
    chunk_bytes = int(session.eval("torch::tensor_numel $chunk").result) * 4
    return {"rank": rank, "extra": rss.peak - rss.baseline, "chunk": chunk_bytes,
            "source": elements * 4 if rank == src else 0}

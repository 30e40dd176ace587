"""What the benchmarks run on each rank: our Tcl command and the raw torch.distributed call,
interleaved on the same data, so that both see the same machine noise."""
from __future__ import annotations

import functools
import gc
import statistics
import threading
import time

import torch
import torch.distributed as dist

from torch.nn.parallel import DistributedDataParallel

from tcl_magic import TclSession
from tcl_magic.remote import rank_session


def _timed(fn) -> float:
    dist.barrier()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _raw_calls(elements: int, rank: int, world: int, mine: torch.Tensor, group=None) -> dict:
    """The plain torch.distributed equivalent of each command: same data, same result
    (a new tensor, the input left as it was), on `group` (None: the world)."""
    chunk = elements // world
    chunks = list(mine.tensor_split(world))
    return {
        "scatter": lambda: dist.scatter(torch.empty(chunk), chunks if rank == 0 else None, src=0, group=group),
        "gather": lambda: dist.gather(mine, list(torch.empty(world, elements).unbind(0)) if rank == 0 else None,
                                      dst=0, group=group),
        "broadcast": lambda: dist.broadcast(mine if rank == 0 else torch.empty(elements), src=0, group=group),
        "all_reduce": lambda: dist.all_reduce(mine.clone(), group=group),
        "reduce_scatter": lambda: dist.reduce_scatter_tensor(torch.empty(chunk), mine, group=group),
        "all_to_all": lambda: dist.all_to_all_single(torch.empty(elements), mine, group=group),
    }


@functools.cache
def checked_world():
    """The world again as a process group that torch checks before every collective, as
    TORCH_DISTRIBUTED_DEBUG=DETAIL makes it: each member's call and tensor shapes compared
    (a fingerprint gathered through a helper gloo group) after a monitored barrier. It is
    torch's own way to name a rank that calls a different collective instead of hanging."""
    level = dist.get_debug_level()
    dist.set_debug_level(dist.DebugLevel.DETAIL)
    try:
        return dist.new_group(list(range(dist.get_world_size())))
    finally:
        dist.set_debug_level(level)


TCL_CALLS = {
    "scatter": "torch::distributed_scatter $mine 0",
    "gather": "torch::distributed_gather $mine 0",
    "broadcast": "torch::distributed_broadcast $mine 0",
    "all_reduce": "torch::distributed_all_reduce $mine sum",
    "reduce_scatter": "torch::distributed_reduce_scatter $mine sum",
    "all_to_all": "torch::distributed_all_to_all $mine",
}


def collective_times(name: str, elements: int, repeats: int, calls: int = 1, checked: bool = False) -> dict:
    """Seconds per call of one torch:: collective and of its raw torch.distributed twin,
    interleaved on the same data (every rank holds `elements` random float32 values). Each
    repeat makes `calls` calls: a Tcl loop in one evaluation, a Python loop for the raw twin,
    so that the collective's own cost is measured, not the evaluation's (cell_dispatch.py
    measures that). With `checked`, also the raw twin on checked_world()."""
    session = rank_session()
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = torch.randn(elements)
    session.set_variable("mine", mine)
    raw_call = _raw_calls(elements, rank, world, mine)[name]
    checked_call = _raw_calls(elements, rank, world, mine, checked_world())[name] if checked else None
    script = f"for {{set i 0}} {{$i < {calls}}} {{incr i}} {{set result [{TCL_CALLS[name]}]}}; unset result"

    def ours() -> None:
        result = session.eval(script)
        if result.error is not None:
            raise RuntimeError(result.error.info)

    def raw() -> None:
        for _ in range(calls):
            raw_call()

    def checked_raw() -> None:
        for _ in range(calls):
            checked_call()

    ours(), raw()  # warm up both paths (connections, allocator)
    timings = {"ours": [], "raw": [], "stages": [], "checked": []}
    if checked:
        checked_raw()
    for _ in range(repeats):
        timings["ours"].append(_timed(ours) / calls)
        timings["stages"].append(_stages(session.comm.agreement.timeline.events))
        timings["raw"].append(_timed(raw) / calls)
        if checked:
            timings["checked"].append(_timed(checked_raw) / calls)
    return timings


def _stages(events) -> dict:
    """Where a call's time went on this rank, medians over the calls of one evaluation, from
    its own timeline: in the agreement round (arrival to verdict), moving data (verdict to
    the end of torch's call), and between calls (the Tcl loop, the command's parsing, its
    checks and the result's handle)."""
    return {"round": statistics.median(e.agreed - e.arrived for e in events),
            "data": statistics.median(e.moved - e.agreed for e in events),
            "between": statistics.median([b.arrived - a.left for a, b in zip(events, events[1:])] or [0.0])}


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
    rank = dist.get_rank()
    session.set_variable("source", torch.randn(elements) if rank == src else torch.zeros(1))
    session.eval("foreach h [info vars ::chunk*] {catch {torch::tensor_free [set $h]}}")
    gc.collect()
    dist.barrier()
    with _PeakRss() as rss:
        session.eval(f"set chunk [torch::distributed_scatter $source {src}]")
    chunk_bytes = int(session.eval("torch::tensor_numel $chunk").result) * 4
    return {"rank": rank, "extra": rss.peak - rss.baseline, "chunk": chunk_bytes,
            "source": elements * 4 if rank == src else 0}


def scatter_loop_peaks(elements: int, iterations: int) -> dict:
    """Peak resident bytes above the start of a loop of scatters reassigning `chunk` (rank 0
    scatters `elements` float32): a Tcl `for` loop in one evaluation (and the most bytes of
    live tensors in it), then the same Python loop of `dist.scatter` into a new chunk; and the
    bytes the loop can reach."""
    session = rank_session()
    rank, world = dist.get_rank(), dist.get_world_size()
    data = torch.rand(elements)
    session.set_variable("data", data)
    gc.collect()
    dist.barrier()
    with _PeakRss() as tcl:
        error, live = live_tensor_bytes_during(f"for {{set i 0}} {{$i < {iterations}}} {{incr i}} "
                                               "{set chunk [torch::distributed_scatter $data 0]; probe}; unset chunk")
    if error is not None:
        raise RuntimeError(error)
    session.eval("unset data")
    gc.collect()
    chunks = list(data.tensor_split(world))
    dist.barrier()
    with _PeakRss() as python:
        for _ in range(iterations):
            chunk = torch.empty(chunks[rank].shape)
            dist.scatter(chunk, chunks if rank == 0 else None, src=0)
    del chunk
    return {"rank": rank, "tcl": tcl.peak - tcl.baseline, "python": python.peak - python.baseline,
            "live": live, "reachable": (elements + len(chunks[rank])) * 4}


def live_tensor_bytes_during(source: str) -> tuple[str | None, int]:
    """The cell's error (None) and the most tensor bytes alive at any `probe` command the
    source runs: what a loop keeps, counted by the rank's own handles."""
    session = rank_session()
    peaks = [0]
    session.tcl.createcommand("probe", lambda: peaks.append(sum(t.nbytes for _, t in session.handles.tensors())))
    try:
        result = session.eval(source)
    finally:
        session.tcl.tk.deletecommand("probe")
    return (result.error.message if result.error else None), max(peaks)


def training_times(width: int, steps: int, repeats: int, parallel: bool) -> dict:
    """Seconds per repeat of `steps` training steps, torch:: and Python, interleaved."""
    session = rank_session() if parallel else TclSession()
    session.eval(f"""
        torch::manual_seed 0
        set x [torch::randn {{64 {width}}}]; set y [torch::randn {{64 1}}]; set steps {steps}
        set model [torch::sequential [list [torch::linear {width} {width}] [torch::relu] [torch::linear {width} 1]]]
        set net {"[torch::distributed_data_parallel $model]" if parallel else "$model"}
        set opt [torch::optimizer_sgd $net 0.01]
    """)
    torch.manual_seed(0)
    x, y = torch.randn(64, width), torch.randn(64, 1)
    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 1))
    net = DistributedDataParallel(model) if parallel else model
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def python() -> None:
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()

    def tcl() -> None:
        result = session.eval("""
            for {set i 0} {$i < $steps} {incr i} {
                torch::optimizer_zero_grad $opt
                torch::tensor_backward [torch::mse_loss [torch::layer_forward $net $x] $y]
                torch::optimizer_step $opt
            }""")
        if result.error is not None:
            raise RuntimeError(result.error.info)

    def timed(fn) -> float:
        if parallel:
            dist.barrier()
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    tcl(), python()  # warm up both
    times = {"ours": [], "raw": []}
    for _ in range(repeats):
        times["ours"].append(timed(tcl))
        times["raw"].append(timed(python))
    return times

"""The original's runtime vocabulary: threads, random state, denormals, autocast, the
profiler, a micro-benchmark, and the CUDA device and memory queries. Each is one row over
torch (see derive.py). The CUDA queries report the real device: on a machine without one
they say so (`CUDA not available`) rather than inventing figures.
"""
from __future__ import annotations

import time

import torch

from .. import convert
from ..spec import ParamType, choice
from .derive import KINDS, exports, fn

_DEVICE_TYPE = choice("cuda", "cpu")
_AUTOCAST_DTYPE = choice("float16", "bfloat16", "float32", legacy={"half": "float16", "float": "float32"})
KINDS.setdefault("AD", _DEVICE_TYPE)
KINDS.setdefault("AT", _AUTOCAST_DTYPE)
_DEVICE_ID = ParamType("device id", lambda text, ctx: _device_id(text))


def _device_id(text: str) -> int:
    value = convert.int_from_tcl(text)
    if value < 0:
        raise convert.ConversionError("Must be non-negative.")
    return value


KINDS.setdefault("DID", _DEVICE_ID)


def _cuda(device_id: int | None = None) -> None:
    """The CUDA queries' one refusal: no device, or no device of that number."""
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA not available on this machine")
    if device_id is not None and device_id >= torch.cuda.device_count():
        raise RuntimeError(f"Invalid device_id: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _device_info(device_id):
    _cuda(device_id)
    p = torch.cuda.get_device_properties(device_id)
    return (f"Device {device_id}: {p.name}, compute capability {p.major}.{p.minor}, "
            f"total memory {p.total_memory // 2 ** 20} MB, {p.multi_processor_count} multiprocessors")


def _memory_info(device_id):
    _cuda(device_id)
    free, total = torch.cuda.mem_get_info(device_id)
    return (f"Device {device_id} Memory: allocated {torch.cuda.memory_allocated(device_id) // 2 ** 20} MB, "
            f"reserved {torch.cuda.memory_reserved(device_id) // 2 ** 20} MB, free {free // 2 ** 20} MB, "
            f"total {total // 2 ** 20} MB")


def _empty_cache(device):
    if device == "cpu":
        return "cache_cleared"  # the CPU allocator keeps no cache to release
    if not torch.cuda.is_available():
        return "cuda_not_available"
    torch.cuda.empty_cache()
    return "cache_cleared"


def _allocator_stats(device):
    if not torch.cuda.is_available():
        return "cuda_available: false"
    index = torch.device(device).index or 0 if device else torch.cuda.current_device()
    return (f"cuda_available: true device_count: {torch.cuda.device_count()} "
            f"allocated: {torch.cuda.memory_allocated(index)} reserved: {torch.cuda.memory_reserved(index)} "
            f"max_allocated: {torch.cuda.max_memory_allocated(index)}")


def _memory_summary(device):
    if not torch.cuda.is_available():
        return "CUDA not available"
    return f"CUDA Memory Summary\nDevice Count: {torch.cuda.device_count()}\n" + torch.cuda.memory_summary(device)


def _snapshot():
    stats = _allocator_stats(None)
    return f"timestamp: {int(time.time() * 1000)} {stats}"


def _synchronize(device):
    if device != "cpu" and not torch.cuda.is_available():
        return "cuda_not_available"
    if device != "cpu":
        torch.cuda.synchronize(device)
    return "synchronized"


def _set_num_threads(num_threads):
    if num_threads > 1024:
        raise ValueError(f"num_threads {num_threads} is more than this machine can use (at most 1024)")
    torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def _flush_denormal(enabled):
    torch.set_flush_denormal(bool(enabled))
    return "denormal_flushing_enabled" if enabled else "denormal_flushing_disabled"


def _autocast(device_type, enabled, dtype=None):
    if dtype is not None:
        torch.set_autocast_dtype(device_type, getattr(torch, dtype))
    if enabled is not None:
        torch.set_autocast_enabled(device_type, enabled)
    return "ok"


_PROFILE: list = []


def _profiler_start(config):
    if _PROFILE:
        raise RuntimeError("the profiler is already running: torch::profiler_stop first")
    profile = torch.profiler.profile(record_shapes="shapes" in (config or ""))
    profile.__enter__()
    _PROFILE.append(profile)
    return "profiler_started"


def _profiler_stop():
    if not _PROFILE:
        raise RuntimeError("the profiler is not running: torch::profiler_start first")
    _PROFILE.pop().__exit__(None, None, None)
    return "profiler_stopped"


_OPERATIONS = {"matmul": lambda a, b: a @ b, "mm": lambda a, b: a @ b, "add": lambda a, b: a + b,
               "conv2d": lambda a, b: torch.nn.functional.conv2d(a.reshape(1, 1, *a.shape[-2:]),
                                                                 b.reshape(1, 1, *b.shape[-2:])[..., :3, :3])}


def _benchmark(operation, iterations, size, dtype, device, verbose):
    """Microseconds that `iterations` runs of the operation on random operands of `size` took."""
    dtype, device = dtype or torch.float32, device or torch.device("cpu")
    if operation not in _OPERATIONS:
        raise ValueError(f"Unknown operation: {operation} (matmul, mm, add or conv2d)")
    try:
        shape = [int(n) for n in size.lower().split("x")] if size else [1000, 1000]
    except ValueError:
        raise ValueError(f"Invalid size {size!r}: write NxM, NxMxP or N") from None
    shape = shape * 2 if len(shape) == 1 else shape
    if iterations > 10 ** 6 or min(shape) < 1 or torch.Size(shape).numel() > 10 ** 8:
        raise ValueError(f"a benchmark of {iterations} x {size} is out of range: at most 1e6 iterations "
                         "of at most 1e8 elements")
    make = torch.randn if dtype.is_floating_point else lambda *s, **kw: torch.randint(0, 10, s, **kw)
    a, b = make(*shape, dtype=dtype, device=device), make(*shape, dtype=dtype, device=device)
    started = time.perf_counter()
    for _ in range(iterations):
        _OPERATIONS[operation](a, b)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    micros = max(1, int((time.perf_counter() - started) * 1e6))
    return f"Operation: {operation}, Size: {size}, Iterations: {iterations}, Time: {micros} us" if verbose else micros


SYSTEM = [
    fn("get_num_threads", torch.get_num_threads, "", doc="The number of threads torch uses on the CPU."),
    fn("set_num_threads", _set_num_threads, "num_threads|numThreads:PI", doc="Set the threads torch uses on the CPU."),
    fn("get_rng_state", torch.get_rng_state, "", doc="The CPU random generator's state (a uint8 tensor)."),
    fn("set_rng_state", lambda state_tensor: torch.set_rng_state(state_tensor) or "ok", "state_tensor|stateTensor|state:T",
       doc="Restore the CPU random generator's state from torch::get_rng_state."),
    fn("initial_seed", torch.initial_seed, "", doc="The seed the CPU random generator started from."),
    fn("seed", torch.seed, "", doc="Seed the random generator non-deterministically; answers the seed."),
    fn("set_flush_denormal", _flush_denormal, "enabled:B", doc="Flush denormal floats to zero on the CPU (or not)."),
    fn("profiler_start", _profiler_start, "config:S=None", doc="Start torch's profiler."),
    fn("profiler_stop", _profiler_stop, "", doc="Stop torch's profiler."),
    fn("benchmark", _benchmark, "operation|op:S iterations:PI=1 size:S=1000x1000 dtype:D=None device:V=None "
       "verbose:B=False", doc="Microseconds that iterations of an operation (matmul, add, conv2d) took."),
]

AUTOCAST = [
    fn("autocast_enable", lambda device_type, dtype: _autocast(device_type, True, dtype),
       "device_type|device:AD=cuda dtype|data_type:AT=None", doc="Turn on autocast (mixed precision) for a device."),
    fn("autocast_disable", lambda device_type: _autocast(device_type, False), "device_type|device:AD=cuda",
       doc="Turn off autocast for a device."),
    fn("autocast_is_enabled", lambda device_type: torch.is_autocast_enabled(device_type),
       "device_type|device:AD=cuda", doc="1 when autocast is on for the device."),
    fn("autocast_set_dtype", lambda dtype, device_type: _autocast(device_type, None, dtype),
       "dtype|data_type:AT device_type|device:AD=cuda", doc="The dtype autocast computes in on the device."),
]

CUDA = [
    fn("cuda_device_info", _device_info, "device_id|deviceId:DID=0", doc="The CUDA device's name and capacity."),
    fn("cuda_memory_info", _memory_info, "device_id|deviceId:DID=0", doc="The CUDA device's memory in use and free."),
    fn("empty_cache", _empty_cache, "device:S=cuda", doc="Release the CUDA allocator's cached memory."),
    fn("synchronize", _synchronize, "device:S=cuda", doc="Wait for the device's queued work to finish."),
    fn("memory_stats", _allocator_stats, "device:S=None", doc="The CUDA allocator's figures (or that CUDA is absent)."),
    fn("memory_summary", _memory_summary, "device:S=None", doc="The CUDA allocator's report (or that CUDA is absent)."),
    fn("memory_snapshot", _snapshot, "", doc="A time-stamped line of the CUDA allocator's figures."),
]

globals().update(exports(*SYSTEM, *AUTOCAST, *CUDA))

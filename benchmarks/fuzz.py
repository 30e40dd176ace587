"""Random argument lists for every torch:: command, in one process: any `internal error` (a
Python exception that escaped as a bug) or exception out of the session is a failure.

    python -m benchmarks.fuzz --seed 1 --calls 60000

tests/tcl_magic/test_fuzz.py runs a few thousand of these, with a fixed seed, on every test run.
"""
from __future__ import annotations

import argparse
import random
import sys


from tcl_magic import TclSession, commands

SKIPPED = {"distributed_init"}  # a valid call waits for other ranks: its mistakes are tested one by one
WORDS = ["0", "1", "2", "-1", "3", "9223372036854775808", "-9223372036854775809", "1000000000000000000000000000000",
         "1e308", "-1e308", "inf", "-inf", "nan", "NaN", "0.5", "-2.5", "1e-320", "", "{}", "{1 2}", "{2 3}",
         "{0}", "{-1 2}", "{1 {2 3}}", "{300 -1}", "{1e308 1e308}", "{9223372036854775808}", "abc", "x y",
         "float32", "float64", "int64", "int32", "uint8", "bool", "float16", "bfloat16", "cpu", "cuda", "cuda:7",
         "sum", "mean", "max", "product", "cat", "stack", "true", "false", "$t", "$u", "$i", "$s", "$e", "tensor999",
         "{$t $u}", "isend_handle_1", "-", "--", "-tensor", "-src", "-dtype", "-shape", "-data", "-group", "-op",
         "-device", "-requiresGrad", "-alpha", "-dim", "{1 2 3 4 5 6 7 8 9 10 11}", "\u00e9", "[list 1 2]",
         # malformed lists and odd characters, as words of their own
         '"{1 2"', '"\\""', '"{"', '"}"', '"\\u0000"', '"a\\u0000b"', '"\\xff\\xfe"', '"\\ud800"', '"{{1} 2"',
         '"\\{"', "\\{1", "-input", "-other", "-target", "-parameters", "-optimizer", "-padding", "-size"]
SETUP = ("set t [torch::ones {2 3}]; set u [torch::arange 0 6]; set i [torch::ones {4} int64]; "
         "set s [torch::tensor_create -data 5 -shape {}]; set e [torch::zeros {0 3}]")


def fuzz(seed: int, calls: int) -> list[str]:
    """The problems found: each an argument list and what it produced."""
    rng = random.Random(seed)
    saved = _process_state()
    names = sorted(name for spec in commands.TABLE.specs for name in spec.names if spec.name not in SKIPPED)
    session = TclSession()
    problems = []
    for n in range(calls):
        if n % 500 == 0:
            session.eval(SETUP)
        words = [rng.choice(WORDS) for _ in range(rng.randint(0, 5))]
        source = f"torch::{rng.choice(names)} {' '.join(words)}"
        try:
            result = session.eval(source)
        except Exception as err:  # noqa: BLE001 - what we look for
            problems.append(f"{source!r}: {type(err).__name__}: {err}")
            continue
        if result.error is not None and ("internal error" in result.error.message or
                                         "Traceback" in result.error.info):
            problems.append(f"{source!r}: {result.error.message}")
    session.eval("catch torch::profiler_stop")  # a profiler_start among the calls
    _restore(saved)
    return problems


def _process_state() -> tuple:
    """What commands may change for the whole process (threads, autocast, the generator):
    put back after a run, so that what runs next in the process is not affected."""
    import torch
    return (torch.get_num_threads(), torch.get_rng_state(), False,  # denormals are kept by default
            [(d, torch.is_autocast_enabled(d), torch.get_autocast_dtype(d)) for d in ("cpu", "cuda")])


def _restore(saved: tuple) -> None:
    import torch
    threads, rng, denormal, autocast = saved
    torch.set_num_threads(threads)
    torch.set_rng_state(rng)
    torch.set_flush_denormal(denormal)
    for device, enabled, dtype in autocast:
        torch.set_autocast_enabled(device, enabled)
        torch.set_autocast_dtype(device, dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calls", type=int, default=60000)
    options = parser.parse_args()
    problems = fuzz(options.seed, options.calls)
    kinds = sorted({p.split(": ", 1)[1].split(":")[0:3].__str__() for p in problems})
    for problem in problems[:40]:
        print(problem)
    print(f"{options.calls} calls, {len(problems)} problems, {len(kinds)} kinds")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

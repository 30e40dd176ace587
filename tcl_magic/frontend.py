"""What the two front ends share: the notebook magic (magic.py, cluster_magic.py) and the
command line (cli.py) declare the cluster's options, build its LaunchConfig, wire Tcl's
output and summarise a failed cell here, so that both say the same things the same way.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

from .preload import ENGINE_PRELOAD
from .results import CellResult


def cluster_options(ranks_default: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The options that say which ranks to start and how, as (flags, argparse keywords);
    `ranks_default` says what no -n means in the front end that declares them."""
    return [
        (("-n", "--ranks"), dict(type=int, metavar="N", help=f"number of ranks (default: {ranks_default})")),
        (("--engines",), dict(default="local", help="ipyparallel engine launcher: local, mpi, slurm, ssh, ... "
                                                     "(default local)")),
        (("--backend",), dict(default="auto", choices=("auto", "gloo", "nccl"),
                              help="process group backend (auto: nccl with GPUs, else gloo)")),
        (("--timeout",), dict(type=float, default=60.0, metavar="SECONDS",
                              help="collective timeout: a collective some rank never joins fails after this long "
                                   "(default 60)")),
        (("--hosts",), dict(metavar="HOST:N,...", help="ssh or mpi engines: the hosts and how many ranks each "
                                                        "runs, e.g. node1:2,node2:2")),
        (("--address",), dict(metavar="ADDR", help="this machine's address the engines reach it by (default: "
                                                    "loopback for local engines, else chosen; see the README's "
                                                    "multi-host section)")),
    ]


def launch_config(options, ranks: int | None):
    """The LaunchConfig of `options` (parsed from cluster_options) with `ranks` ranks; raises
    LaunchError for a combination that cannot start."""
    from launcher import LaunchConfig  # only here: the command line checks a script before importing it

    return LaunchConfig(ranks=ranks, engines=options.engines, backend=options.backend, timeout_s=options.timeout,
                        hosts=options.hosts, address=options.address, preload=ENGINE_PRELOAD)


def write_now(stream: str, text: str) -> None:
    """Tcl's `puts` in a session of this process: straight to our own stdout or stderr, in order."""
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(text)
    target.flush()


def print_output(results: Sequence[CellResult]) -> None:
    """What the ranks printed, each stream to ours, each distinct text once, labelled by rank."""
    from . import display  # only here: the command line checks a script before importing torch

    for stream, target in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        for line in display.stream_lines(results, stream):
            print(line, file=target)
    sys.stdout.flush()


@dataclass
class CellFailure:
    """A cell that failed on some ranks, as both front ends report it: the root cause first
    (an error that only reports another rank's comes after it)."""

    summary: str  # one line: "Tcl error on ranks 2,3: rank too high"
    headline: str  # what comes before the details: the summary, or "Tcl error on ranks 2,3:"
    details: list[str] = field(default_factory=list)  # each error once, with its trace, labelled by rank
    ranks: list[int] = field(default_factory=list)  # the ranks that failed
    exit_code: int = 1


def cell_failure(results: Sequence[CellResult], in_kernel: bool = False) -> CellFailure | None:
    """None when every rank succeeded. `in_kernel`: one session of this process, whose
    error is shown with its trace and no rank label."""
    from . import display

    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    ranks = [r.rank for r in failed]
    code = max(r.exit_code or 1 for r in failed)
    on = "" if in_kernel else f" on {display.rank_words(ranks)}"
    errors = sorted((r for r in failed if r.error is not None), key=lambda r: (display.is_consequence(r), r.rank))
    if not errors:
        return CellFailure(f"exit {failed[0].exit_code}{on}", f"exit {failed[0].exit_code}{on}", [], ranks, code)
    messages = list(dict.fromkeys(r.error.message for r in errors))
    several = f"Tcl errors{on} ({len(messages)} different)" if len(messages) > 1 else f"Tcl error{on}"
    summary = f"{several}: {messages[0]}"
    if in_kernel:
        first, *trace = errors[0].error.info.splitlines() or [""]
        return CellFailure(summary, first, trace, ranks, code)
    return CellFailure(summary, f"{several}:", display.error_lines(errors), ranks, code)

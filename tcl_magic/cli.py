"""`torchtcl run SCRIPT.tcl [-n N]`: the same engine as the notebook, from a shell.

One rank runs in this process with output streamed as it is written; more ranks start a
local cluster and print each rank's output labelled by rank. The exit status is 0 only
if every rank finished without error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from .frontend import cell_failure, cluster_options, launch_config, print_output, write_now
from .script_check import incomplete_command

# torch, ipyparallel and the rest are imported once the script is known to be complete Tcl

STATUS_AFTER_S = 5.0
"""A script still running after this long shows, on stderr, what each rank is doing."""


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command's parser and its `run` subcommand's."""
    parser = argparse.ArgumentParser(prog="torchtcl", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a Tcl script on one or more ranks")
    run.add_argument("script", help="the Tcl script to run")
    for flags, keywords in cluster_options("1: in this process, no engines; with --hosts, their sum"):
        run.add_argument(*flags, **keywords)
    run.add_argument("args", nargs="*", help="arguments given to the script as $argv (all after --, "
                                              "even those that look like options)")
    return parser, run


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Options and script arguments in any order (`run x.tcl -n 2 a b`, `run -n 2 x.tcl -- a
    b`); a mistake shows the `run` usage."""
    parser, run = build_parsers()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["run"]:
        return parser.parse_args(argv)  # --help, or a command missing or unknown
    words, script_args = argv[1:], []
    if "--" in words:
        split = words.index("--")
        words, script_args = words[:split], words[split + 1:]
    options = run.parse_intermixed_args(words)
    options.command, options.args = "run", options.args + script_args
    return options


def main(argv: Sequence[str] | None = None, exit_at_once: bool = False) -> int:
    """Run the command; with exit_at_once, a script run on ranks ends the process as soon
    as its report is out (see entry_point)."""
    options = parse_arguments(argv)
    path = Path(options.script)
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as err:
        print(f"torchtcl: cannot read script {str(path)!r}: {err.strerror}", file=sys.stderr)
        return 2
    if options.ranks is not None and options.ranks < 1:
        print(f"torchtcl: -n must be at least 1, got {options.ranks}", file=sys.stderr)
        return 2
    script_args = options.args
    incomplete = incomplete_command(source, str(path))
    if incomplete is not None:
        print(f"error: {incomplete}", file=sys.stderr)
        print(f"torchtcl: {path} is not complete Tcl: nothing was run", file=sys.stderr)
        return 1
    if options.ranks in (None, 1) and options.engines == "local" and not options.hosts:
        return _run_here(source, str(path), script_args)
    from launcher import LaunchError, RankCluster

    try:
        config = launch_config(options, options.ranks if options.ranks is not None or options.hosts else 1)
        with StartLine(f"{config.resolved_ranks} ranks") as progress:
            cluster = RankCluster(config).start(on_stage=ImportWhileWaiting(progress.stage))
    except LaunchError as err:
        print(f"torchtcl: {err}", file=sys.stderr)
        return 2
    from . import display
    from .supervise import CellAbandoned, CellSupervisor

    try:
        with cluster:
            supervisor = CellSupervisor(cluster)
            live = display.LiveOutput(STATUS_AFTER_S, False, supervisor.activity, echo_output=False)
            outcome = supervisor.run(source, script=str(path), argv=script_args, on_wait=live.feed)
    except (LaunchError, CellAbandoned) as err:
        print(f"torchtcl: {err}", file=sys.stderr)
        return 2
    for note in outcome.notes:
        print(f"torchtcl: {note}", file=sys.stderr)
    code = _report(outcome.results)
    if exit_at_once:
        _exit_now(code)
    return code


class ImportWhileWaiting:
    """A start's stage listener that also imports torch and the supervisor (needed once the
    ranks are up, a second of work) in a thread while the start waits for its engines. Not
    sooner: a process started while another thread maps torch's libraries can fail to
    start (EFAULT from the vfork Python spawns with, seen under gVisor), and by these
    stages this process starts no more processes."""

    def __init__(self, stage) -> None:
        self.stage, self.started = stage, False

    def __call__(self, what: str) -> None:
        from launcher.cluster import QUIET_STAGES

        if not self.started and what.startswith(QUIET_STAGES):
            self.started = True
            threading.Thread(target=importlib.import_module, args=("tcl_magic.supervise",), daemon=True).start()
        self.stage(what)


class StartLine:
    """On a terminal, one line on stderr that says what the start is doing and for how
    long, rewritten in place and erased when the ranks are ready; nothing elsewhere (a
    pipe, a log file, CI)."""

    def __init__(self, what: str, stream=sys.stderr) -> None:
        self.what, self.stream = what, stream
        self.shown = stream.isatty()
        self.now = "starting"
        self._done, self._lock = threading.Event(), threading.Lock()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._tick, name="torchtcl-start", daemon=True)

    def stage(self, what: str) -> None:
        self.now = what
        self._draw()

    def __enter__(self) -> "StartLine":
        self._started = time.monotonic()
        if self.shown:
            self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._done.wait(0.2):
            self._draw()

    def _draw(self, text: str | None = None) -> None:
        if not self.shown:
            return
        if text is None:
            text = f"torchtcl: starting {self.what}: {self.now} ... {time.monotonic() - self._started:.0f} s"
        with self._lock:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self.shown:
            self._thread.join()
            self._draw("")


def _run_here(source: str, script: str, args: list[str]) -> int:
    from .session import TclSession

    session = TclSession(on_output=write_now)
    session.set_script_args(script, args)
    result = session.eval(source, script_name=script)
    if result.error is not None:
        print(f"error: {result.error.info}", file=sys.stderr)
        return 1
    return result.exit_code or 0


def _report(results: list) -> int:
    """What the ranks printed, then (root cause first) their errors; the exit status."""
    from . import display

    print_output(results)
    failure = cell_failure(results)
    if failure is None:
        return 0
    for line in failure.details:
        print(line, file=sys.stderr)
    print(f"torchtcl: failed on {display.rank_words(failure.ranks)}", file=sys.stderr)
    return failure.exit_code


def entry_point() -> None:
    """The `torchtcl` command. A reader that closes its end early (`| head`) ends it quietly,
    as it ends any Unix tool; what it says about the rest goes nowhere."""
    try:
        sys.exit(main(exit_at_once=True))
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def _exit_now(code: int) -> None:
    """End the process without the interpreter unloading torch, zmq and their threads
    (0.5-0.7 s): after a run on ranks every process it started is stopped and nothing is
    left to release. Not after a script run here: its own atexit work (leaving a process
    group a peer still reads from, a store it serves) must run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry_point()

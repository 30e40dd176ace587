"""IPython magics: `%%torchtcl` runs a Tcl cell, `%torchtcl cluster ...` controls the ranks.

With no cluster a cell runs in the kernel's own TclSession (a world of one); once a
cluster is started (or attached) every cell runs on all its ranks, each in its persistent
session, and the kernel shows what each rank printed, grouped and labelled by rank.
A failing cell raises `TclCellError`, so Jupyter gets an error reply ("run all" stops).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from launcher import LaunchConfig, LaunchError, RankCluster, RankFailure

from . import convert, display, remote
from .comm import format_ranks
from .results import CellResult
from .session import TclSession
from .preload import ENGINE_PRELOAD
from .supervise import CellAbandoned, CellSupervisor

CLUSTER_VERBS = ("start", "status", "restart", "stop")


class TclCellError(Exception):
    """A cell that failed on some ranks; shown as the Tcl errors, without a Python traceback.

    `str()` is the one-line summary (what Jupyter reports as the error's value); what a
    notebook draws is `headline` then `details`, which say each error once, with its trace,
    wrapped between words."""

    def __init__(self, summary: str, details: list[str] | None = None, headline: str | None = None):
        super().__init__(summary)
        self.details = details or []
        self.headline = summary if headline is None else headline

    def _render_traceback_(self) -> list[str]:
        headline, *rest = display.wrapped([f"TclCellError: {self.headline}"])
        return [headline.replace("TclCellError", "\x1b[0;31mTclCellError\x1b[0m", 1), *rest,
                *display.wrapped(self.details)]


class TclValue(str):
    """The value of a cell's last command, shown like a Python result (without quotes)."""

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


class RankValues(dict):
    """rank -> value of the last command; shown once per distinct value, labelled by rank."""

    def __init__(self, results: list[CellResult]):
        super().__init__({r.rank: r.result for r in results})
        self._lines = display.result_lines(results)

    def __repr__(self) -> str:
        return "\n".join(self._lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def parse_ranks(text: str, world_size: int) -> list[int]:
    """`0,2` or `1-3` or `0,2-3` -> sorted ranks, each inside the world."""
    ranks: set[int] = set()
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise UsageError(f"--ranks {text!r} is not a list of ranks; write e.g. --ranks 0,2 or --ranks 1-3")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise UsageError(f"--ranks {text!r}: the range {part} goes down; write it as {last}-{first}")
        ranks.update(range(first, last + 1))
    outside = sorted(r for r in ranks if r >= world_size)
    if not ranks or outside:
        raise UsageError(f"--ranks {text!r} names rank {outside[0] if outside else '?'}, but the cluster has "
                         f"ranks {format_ranks(range(world_size))}")
    return sorted(ranks)


def _names(groups: list[str] | None, option: str) -> list[str]:
    """-i a,b -i c -> [a, b, c]; `option` names the option in the message of a bad name."""
    names = [n.strip() for group in groups or [] for n in group.split(",") if n.strip()]
    for name in names:
        if not name.isidentifier():
            raise UsageError(f"{name!r} is not a variable name; {option} takes names like x or x,y")
    return names


@magics_class
class TorchTclMagics(Magics):
    """The state behind the magics: the kernel's session and the attached cluster."""

    def __init__(self, shell=None):
        super().__init__(shell)
        self._session: TclSession | None = None
        self.cluster: RankCluster | None = None
        self.supervisor: CellSupervisor | None = None
        self._seen: dict[tuple, str] = {}  # (where, rank, variable) -> handle after the last cell

    @property
    def session(self) -> TclSession:
        """The kernel's own session (a world of one), made on first use."""
        if self._session is None:
            self._session = TclSession(on_output=_write_now)
        return self._session

    def tensor_variables(self) -> set[str]:
        """Tcl variables that held tensors after the last cell (on the cluster when one is
        attached, else in the kernel): what Tab offers after `$`."""
        if self.cluster is None:
            return {s.variable for s in self.session.tensor_summaries()}
        return {variable for where, _, variable in self._seen if where == "cluster"}

    # --- the magic --------------------------------------------------------------------------

    @magic_arguments()
    @argument("--ranks", metavar="RANKS", help="run on these ranks only, e.g. 0,2 or 1-3 (default: all ranks). "
              "Collectives that need the other ranks, and distributed_new_group, are refused")
    @argument("--local", action="store_true", help="run in the kernel's own session even when a cluster runs")
    @argument("-i", "--input", action="append", metavar="NAME", help="send Python variable NAME to every rank "
              "as a Tcl variable of the same name (a tensor, number or list becomes a tensor handle); repeatable, "
              "or NAME,NAME")
    @argument("-o", "--output", action="append", metavar="NAME", help="bring Tcl variable NAME back to Python: "
              "a tensor (world of one) or a list of per-rank values in rank order (cluster)")
    @argument("--no-table", action="store_true", help="do not show the table of tensor variables")
    @argument("--show", metavar="VARS", help="show these tensor variables (a,b) or 'all' in the table "
              "(default: those the cell created or changed)")
    @argument("--stream-after", type=float, default=1.0, metavar="SECONDS", help="show rank output live once "
              "a cell has run this long (default 1; 0 streams at once); the grouped view replaces it at the end")
    @argument("--timeout", type=float, metavar="SECONDS", help="stop waiting for the ranks after this long "
              "(default: wait until they finish; collectives time out by themselves)")
    @line_cell_magic
    def torchtcl(self, line: str, cell: str | None = None) -> Any:
        """Run Tcl with the torch:: commands, in the kernel or on every rank of a cluster.

        %%torchtcl [options] runs the cell; %torchtcl TCL runs one line of Tcl;
        %torchtcl cluster start|status|restart|stop controls the ranks (see below);
        %torchtcl reset gives every rank (and the kernel) a fresh interpreter.
        """
        if cell is None:
            words = line.split()
            if words and words[0] == "cluster":
                return self._cluster_command(line.split(None, 1)[1] if len(words) > 1 else "")
            if words == ["reset"]:
                return self._reset()
            return self._run(parse_argstring(self.torchtcl, ""), line)
        return self._run(parse_argstring(self.torchtcl, line), cell)

    # --- running cells ------------------------------------------------------------------

    def _run(self, args, source: str) -> Any:
        for option, value in (("--timeout", args.timeout), ("--stream-after", args.stream_after)):
            if value is not None and not (math.isfinite(value) and value >= (0 if option == "--stream-after" else 1e-3)):
                raise UsageError(f"{option} {value} is not a number of seconds; give e.g. {option} 30")
        inputs = self._inputs(_names(args.input, "-i"))
        outputs = _names(args.output, "-o")
        if self.cluster is None or args.local:
            if args.ranks:
                raise UsageError("--ranks needs a cluster; start one with %torchtcl cluster start -n 4")
            remote.set_inputs(inputs, self.session)
            results, where, labels = [remote.eval_interruptible(self.session, source)], "kernel", ["kernel"]
        else:
            ranks = parse_ranks(args.ranks, self.cluster.world_size) if args.ranks else None
            if inputs:
                self._on_ranks(remote.set_inputs, inputs, ranks=ranks)
            results, where, labels = self._run_on_ranks(source, ranks, args), "cluster", None
        self._show(results, where, labels, args)
        self._raise_failures(results, where)
        if outputs:
            self._bring_back(outputs, where, [r.rank for r in results])
        return _value(results, where)

    def _inputs(self, names: list[str]) -> dict[str, Any]:
        values = {}
        for name in names:
            if name not in self.shell.user_ns:
                raise UsageError(f"-i {name}: there is no Python variable {name!r}; define it first")
            try:
                values[name] = convert.python_to_tcl(self.shell.user_ns[name], name)
            except convert.ConversionError as err:
                raise UsageError(str(err)) from None
        return values

    def _run_on_ranks(self, source: str, ranks: list[int] | None, args) -> list[CellResult]:
        live = display.LiveOutput(args.stream_after, getattr(self.shell, "kernel", None) is not None,
                                  self.supervisor.activity)
        try:
            outcome = self.supervisor.run(source, ranks=ranks, timeout=args.timeout, on_wait=live.feed)
        except LaunchError as err:
            raise UsageError(f"{err}\nStart a cluster with %torchtcl cluster start, or run with --local") from None
        except CellAbandoned as err:
            raise TclCellError(str(err)) from None
        finally:
            live.finish()
        for note in outcome.notes:
            print(f"[cluster] {note}", file=sys.stderr)
        return outcome.results

    def _on_ranks(self, fn, *args, ranks: list[int] | None = None) -> list:
        try:
            return self.cluster.run(fn, *args, on_ranks=ranks)
        except RankFailure as failure:
            messages = sorted({e.message for e in failure.failures.values()})
            raise UsageError("\n".join(messages)) from None
        except LaunchError as err:  # an engine that is gone: the next cell heals the cluster
            raise UsageError(f"{err}\nRun a cell to replace dead engines, or %torchtcl cluster restart") from None

    def _bring_back(self, names: list[str], where: str, ranks: list[int]) -> None:
        if where == "kernel":
            try:
                self.shell.user_ns.update(remote.fetch_outputs(names, self.session))
            except convert.ConversionError as err:
                raise UsageError(str(err)) from None
            return
        per_rank = self._on_ranks(remote.fetch_outputs, names, ranks=ranks)
        self.shell.user_ns.update({name: [values[name] for values in per_rank] for name in names})

    # --- showing results ----------------------------------------------------------------

    def _show(self, results: list[CellResult], where: str, labels: list[str] | None, args) -> None:
        if where == "cluster":
            for stream, target in (("stdout", sys.stdout), ("stderr", sys.stderr)):
                for text in display.stream_lines(results, stream):
                    print(text, file=target)
        sys.stdout.flush()
        changed = self._changed(results, where)
        if args.no_table:
            return
        from . import widgets  # ipywidgets only when a table is drawn
        everything = display.tensor_table(results, labels=labels)
        chosen = None if args.show == "all" else changed if args.show is None else _names([args.show], "--show")
        table = everything if chosen is None else display.tensor_table(results, chosen, labels)
        widgets.show_tensors(table, display.find_scatters(table, everything) if where == "cluster" else [])

    def _changed(self, results: list[CellResult], where: str) -> set[str]:
        """Tensor variables whose handle this cell created or replaced; remembers the new ones."""
        changed = set()
        for result in results:
            for summary in result.tensors:
                key = (where, result.rank, summary.variable)
                if self._seen.get(key) != summary.handle:
                    changed.add(summary.variable)
                self._seen[key] = summary.handle
        return changed

    def _raise_failures(self, results: list[CellResult], where: str) -> None:
        failed = [r for r in results if not r.ok]
        if not failed:
            return
        on = "" if where == "kernel" else f" on {display.rank_words([r.rank for r in failed])}"
        errors = [r for r in failed if r.error is not None]
        # the first failure is the root cause: errors that only report another rank's come last
        messages = sorted({r.error.message for r in errors}, key=lambda m: (_is_consequence(m, errors), m))
        if not errors:
            raise TclCellError(f"exit {failed[0].exit_code}{on}")
        several = f"Tcl errors{on} ({len(messages)} different)" if len(messages) > 1 else f"Tcl error{on}"
        summary = f"{several}: {messages[0]}"
        if where == "kernel":  # the message and its trace, once
            first, *trace = errors[0].error.info.splitlines() or [""]
            raise TclCellError(summary, trace, first)
        raise TclCellError(summary, display.error_lines(results), f"{several}:")

    # --- cluster control -----------------------------------------------------------------

    def _cluster_command(self, line: str) -> None:
        args = parse_argstring(cluster_usage, line)
        if args.verb == "start":
            self._start(args)
        elif args.verb == "status":
            print(cluster_status(self.cluster, self.supervisor))
        elif self.cluster is None:
            raise UsageError(f"no cluster to {args.verb}; start one with %torchtcl cluster start -n 4")
        elif args.verb == "restart":
            self._start(args, restart=True)
        else:
            cluster = self.cluster
            self.attach(None)
            cluster.stop()
            print(f"stopped {cluster.world_size} ranks; cells run in the kernel again")

    def _start(self, args, restart: bool = False) -> None:
        from .widgets import StartProgress
        if restart:
            cluster, what = self.cluster, f"{self.cluster.world_size} fresh ranks"
        else:
            if self.cluster is not None and self.cluster.is_running:
                raise UsageError(f"a cluster of {self.cluster.world_size} ranks is already running; "
                                 "%torchtcl cluster restart gives fresh ranks, %torchtcl cluster stop ends it")
            try:
                config = LaunchConfig(ranks=args.n, engines=args.engines, backend=args.backend,
                                      timeout_s=args.timeout, hosts=args.hosts, address=args.address,
                                      preload=ENGINE_PRELOAD)
            except LaunchError as err:
                raise UsageError(str(err)) from None
            cluster = RankCluster(config)
            what = f"{config.resolved_ranks} ranks (engines {config.engines}, backend {config.resolved_backend})"
        self.cluster = None
        try:
            with StartProgress(what):
                cluster.restart() if restart else cluster.start()
        except LaunchError as err:
            raise UsageError(str(err)) from None
        self.attach(cluster)
        print(cluster_status(cluster, self.supervisor))

    def _reset(self) -> None:
        """Fresh interpreters: no variables, handles or group names, in the kernel and on the ranks."""
        if self._session is not None:
            self._session.close()
        self._session = None
        self._seen.clear()
        if self.cluster is not None:
            self._on_ranks(remote.reset_session)
        print("fresh Tcl sessions" + (f" on {self.cluster.world_size} ranks" if self.cluster else " in the kernel"))

    def attach(self, cluster: RankCluster | None) -> None:
        """Run cells on `cluster` (None: back to the kernel's own session)."""
        if cluster is not None and not cluster.is_running:
            raise UsageError(f"{cluster!r} is not running; call its start() first")
        self.cluster = cluster
        self.supervisor = None if cluster is None else CellSupervisor(cluster)
        self._seen.clear()


@magic_arguments()
@argument("verb", choices=CLUSTER_VERBS, help="start ranks, show where they are, restart them fresh, or stop them")
@argument("-n", type=int, metavar="N", help="number of ranks (default: one per GPU with nccl, else 4)")
@argument("--engines", default="local", help="ipyparallel engine launcher: local, mpi, slurm, ssh, ... (default local)")
@argument("--backend", default="auto", choices=("auto", "gloo", "nccl"),
          help="process group backend (auto: nccl with GPUs, else gloo)")
@argument("--timeout", type=float, default=60.0, metavar="SECONDS",
          help="collective timeout: a collective some rank never joins fails after this long (default 60)")
@argument("--hosts", metavar="HOST:N,...", help="ssh or mpi engines: the hosts and their rank counts, e.g. node1:2,node2:2")
@argument("--address", metavar="ADDR", help="this machine's address the engines reach it by (default: chosen)")
def cluster_usage(line: str) -> None:
    """%torchtcl cluster start|status|restart|stop: the ranks cells run on."""


def cluster_status(cluster: RankCluster | None, supervisor: CellSupervisor | None = None) -> str:
    """World size, backend, where each rank lives (host, local rank, device), and the truth
    about it: alive or dead, a fresh engine since a heal, the last error it reported."""
    if cluster is None or not cluster.is_running:
        return "no cluster: cells run in the kernel (a world of one); start one with %torchtcl cluster start -n 4"
    config = cluster.config
    rebuilt = f", process group rebuilt {cluster.generation} time(s)" if cluster.generation else ""
    lines = [f"cluster: world size {cluster.world_size}, backend {cluster.backend}, engines {config.engines}, "
             f"collective timeout {config.timeout_s:g} s{rebuilt}"]
    dead = cluster.dead_ranks()
    for p in cluster.placements:
        health = supervisor.health[p.rank] if supervisor is not None else None
        state = f"dead ({dead[p.rank]}; the next cell replaces it)" if p.rank in dead else "alive"
        if health is not None and health.replaced:
            state += f", {health.replaced}"
        if health is not None and health.last_error:
            state += f", last error: {health.last_error}"
        lines.append(f"rank {p.rank}: host {p.host}, local rank {p.local_rank}, device {p.device}, {state}")
    return "\n".join(lines)


def _is_consequence(message: str, errors: list[CellResult]) -> bool:
    return any(r.error.message == message and r.error.code == "TORCH PEER" for r in errors)


def _value(results: list[CellResult], where: str) -> Any:
    """The cell's value, except a handle name that a variable holds (the table shows it)."""
    shown = [r for r in results if r.result != "" and not r.value_in_variable]
    if where == "kernel":
        return TclValue(shown[0].result) if shown else None
    return RankValues(results) if shown else None


def _write_now(stream: str, text: str) -> None:
    """`puts` in the kernel's session: straight to the cell's output, in order."""
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(text)
    target.flush()


# `%%torchtcl?` as plain text: the usage of both forms without IPython's reST markers
TorchTclMagics.torchtcl.parser.prog = "%%torchtcl"
cluster_usage.parser.prog = "%torchtcl cluster"
for _parser in (TorchTclMagics.torchtcl.parser, cluster_usage.parser):
    _parser.formatter_class = argparse.HelpFormatter
TorchTclMagics.torchtcl.__doc__ = "\n\n".join([
    TorchTclMagics.torchtcl.parser.format_usage().strip(),
    TorchTclMagics.torchtcl.__doc__.split("\n\n", 2)[2].strip(),
    cluster_usage.parser.format_help().strip()])


def magics_of(shell=None) -> TorchTclMagics:
    """The magics instance registered in `shell` (the running IPython by default)."""
    if shell is None:
        from IPython import get_ipython
        shell = get_ipython()
    if shell is None:
        raise UsageError("no IPython shell is running; attach clusters from a notebook or IPython")
    magics = shell.magics_manager.registry.get(TorchTclMagics.__name__)
    if magics is None:
        raise UsageError("the tcl_magic extension is not loaded; run %load_ext tcl_magic first")
    return magics


def attach_cluster(cluster: RankCluster | None, shell=None) -> None:
    """Run `%%torchtcl` cells on a RankCluster started elsewhere (None: back to the kernel)."""
    magics_of(shell).attach(cluster)


def load_ipython_extension(shell) -> None:
    magics = TorchTclMagics(shell)
    shell.register_magics(magics)
    from . import completion
    completion.install(shell, magics.tensor_variables)

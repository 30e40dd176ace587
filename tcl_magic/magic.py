"""IPython magics: `%%torchtcl` runs a Tcl cell, `%torchtcl TCL` one line of it.

With no cluster a cell runs in the kernel's own TclSession (a world of one); once a
cluster is started (cluster_magic.py) or attached, every cell runs on all its ranks, each
in its persistent session, and the kernel shows what each rank printed, grouped and
labelled by rank. A failing cell raises `TclCellError`, so Jupyter gets an error reply
("run all" stops).
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

from launcher import LaunchError, RankCluster, RankFailure

from . import convert, display, remote, view
from .cluster_magic import ClusterMagics
from .comm import format_ranks
from .cell_values import TclCellError, cell_value
from .frontend import cell_failure, write_now
from .results import CellResult
from .session import TclSession
from .supervise import CellAbandoned


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
    """The state behind the cell magic: the kernel's session, what the last cell left in
    tensor variables; the cluster's magic (`clusters`) holds the cluster cells run on."""

    def __init__(self, shell=None, clusters: ClusterMagics | None = None):
        super().__init__(shell)
        self._session: TclSession | None = None
        self.clusters = clusters or ClusterMagics(shell)
        self.clusters.on_attach = self._forget_seen
        self._seen: dict[tuple, str] = {}  # (where, rank, variable) -> handle after the last cell

    @property
    def cluster(self) -> RankCluster | None:
        return self.clusters.cluster

    @property
    def supervisor(self):
        return self.clusters.supervisor

    def attach(self, cluster: RankCluster | None) -> None:
        """Run cells on `cluster` (None: back to the kernel's own session)."""
        self.clusters.attach(cluster)

    def _forget_seen(self) -> None:
        self._seen.clear()

    @property
    def session(self) -> TclSession:
        """The kernel's own session (a world of one), made on first use."""
        if self._session is None:
            self._session = TclSession(on_output=write_now)
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
        if cell is None:
            words = line.split()
            if words and words[0] == "cluster":
                return self.clusters.torchtcl_cluster(line.split(None, 1)[1] if len(words) > 1 else "")
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
        return cell_value(results, where)

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
        changed = self._changed(results, where)
        table, pictures = None, []
        if not args.no_table:
            everything = display.tensor_table(results, labels=labels)
            chosen = None if args.show == "all" else changed if args.show is None else _names([args.show], "--show")
            table = everything if chosen is None else display.tensor_table(results, chosen, labels)
            pictures = display.find_scatters(table, everything) if where == "cluster" else []
        view.show_cell(results, where, table, pictures, rich=getattr(self.shell, "kernel", None) is not None)

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
        failure = cell_failure(results, in_kernel=where == "kernel")
        if failure is not None:
            raise TclCellError.of(failure)

    # --- a fresh start ----------------------------------------------------------------

    def _reset(self) -> None:
        """Fresh interpreters: no variables, handles or group names, in the kernel and on the ranks."""
        if self._session is not None:
            self._session.close()
        self._session = None
        self._seen.clear()
        if self.cluster is not None:
            self._on_ranks(remote.reset_session)
        print("fresh Tcl sessions" + (f" on {self.cluster.world_size} ranks" if self.cluster else " in the kernel"))


USAGE = """Run Tcl with the torch:: commands, in the kernel or on every rank of a cluster.

%%torchtcl [options] runs the cell; %torchtcl TCL runs one line of Tcl;
%torchtcl cluster start|status|restart|stop controls the ranks (its options below);
%torchtcl reset gives every rank (and the kernel) a fresh interpreter."""


def _plain_help(magic, prog: str, usage_only: bool = False) -> str:
    """A magic's generated help as plain text (without IPython's reST markers)."""
    parser = magic.parser
    parser.prog, parser.formatter_class = prog, argparse.HelpFormatter
    return (parser.format_usage() if usage_only else parser.format_help()).strip()


# `%%torchtcl?`: the usage of both forms, generated from their declarations
TorchTclMagics.torchtcl.__doc__ = "\n\n".join([
    _plain_help(TorchTclMagics.torchtcl, "%%torchtcl", usage_only=True), USAGE,
    _plain_help(ClusterMagics.torchtcl_cluster, "%torchtcl cluster")])


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
    clusters = ClusterMagics(shell)
    magics = TorchTclMagics(shell, clusters)
    shell.register_magics(clusters, magics)
    from . import completion
    completion.install(shell, magics.tensor_variables)

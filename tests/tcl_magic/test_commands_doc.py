"""docs/commands.md cannot drift: every ```tcl example is run and its shown results checked,
and every command of `tcl_magic.commands.TABLE.specs` has a section whose synopsis and parameter
table match the command's declaration.

How the examples are written (the page's "Reading the examples" says the same to readers):

- A ```tcl block is cut into complete Tcl commands (`info complete`), and each command is
  evaluated on its own, in order, in the block's session.
- A command's last line may end with one annotation, checked against that command:
  `;# -> VALUE` (its result), `;# error: MESSAGE` (it fails with exactly this message),
  `;# prints: TEXT` (what it writes with puts). A VALUE ending in ` ...` only has to be
  the start of the real one. Lines `#| TEXT` right after a command add lines to its last
  annotation (multi-line output).
- In multi-rank blocks, lines `# rank 2 -> VALUE` or `# ranks 0,2-3 error: MESSAGE` right
  after a command give per-rank expectations; an inline annotation holds for every rank.
- A command that fails, or writes output, without an annotation saying so fails the test;
  a result is only checked where an annotation shows it.
- HTML comments on the lines right before the fence say how to run the block:
  `<!-- ranks: 4 -->` on a real 4-rank gloo cluster (every rank runs every command),
  `<!-- cell on ranks: 0,1 -->` only on those ranks of it (a cell on part of a cluster),
  `<!-- own process -->` in a separate Python process (it creates a process group there),
  `<!-- continues -->` in the session (or cluster state) the previous block left;
  otherwise a block starts from a fresh `TclSession()` (or fresh sessions on every rank).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tkinter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from tcl_magic import TclSession, commands, remote
from tcl_magic.spec import REQUIRED, camel_case

from ranks import fresh, on_all

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "commands.md"

INLINE = re.compile(r"\s*;#\s*(->|error:|prints:)(?: (.*))?$")
PER_RANK = re.compile(r"^#\s*ranks?\s+([0-9][0-9,\- ]*?)\s*(->|error:|prints:)(?: (.*))?$")
CONTINUATION = re.compile(r"^#\|(?: (.*))?$")
MARKER = re.compile(r"^<!--\s*(.*?)\s*-->$")
KINDS = {"->": "result", "error:": "error", "prints:": "prints"}


@dataclass
class Expect:
    kind: str                      # result | error | prints
    lines: list[str]
    ranks: tuple[int, ...] | None  # None: every rank (or the one process)

    @property
    def value(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Step:
    source: str
    line: int
    expects: list[Expect] = field(default_factory=list)


@dataclass
class Block:
    line: int
    heading: str
    ranks: int = 0                 # 0: one process
    on_ranks: tuple[int, ...] | None = None
    own_process: bool = False
    continues: bool = False
    steps: list[Step] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"docs/commands.md:{self.line} ({self.heading})"

    @property
    def mode(self) -> str:
        return f"ranks{self.ranks}" if self.ranks else "own" if self.own_process else "single"


_TCL = tkinter.Tcl()


def _complete(source: str) -> bool:
    return _TCL.call("info", "complete", source) in (1, "1", True)


def parse_ranks(text: str) -> tuple[int, ...]:
    ranks: list[int] = []
    for part in re.split(r"[,\s]+", text.strip()):
        lo, _, hi = part.partition("-")
        ranks += range(int(lo), int(hi or lo) + 1)
    return tuple(ranks)


def parse_steps(source: str, first_line: int, multirank: bool) -> list[Step]:
    steps: list[Step] = []
    pending: list[str] = []
    pending_annotations: list[tuple[int, Expect]] = []
    start = 0
    for offset, line in enumerate(source.splitlines()):
        number = first_line + offset
        if not pending:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                cont, per_rank = CONTINUATION.match(stripped), PER_RANK.match(stripped)
                if cont:
                    assert steps and steps[-1].expects, f"line {number}: `#|` continues no annotation"
                    steps[-1].expects[-1].lines.append(cont.group(1) or "")
                elif per_rank:
                    assert multirank, f"line {number}: per-rank annotation in a block that is not multi-rank"
                    assert steps, f"line {number}: per-rank annotation before any command"
                    value = per_rank.group(3)
                    steps[-1].expects.append(Expect(KINDS[per_rank.group(2)], [value] if value else [],
                                                    parse_ranks(per_rank.group(1))))
                else:
                    assert "->" not in stripped, f"line {number}: not a valid annotation: {stripped!r}"
                continue
            start = number
        annotation = INLINE.search(line)
        if annotation:
            line = line[:annotation.start()]
            value = annotation.group(2)
            pending_annotations.append((number, Expect(KINDS[annotation.group(1)], [value] if value else [], None)))
        pending.append(line)
        text = "\n".join(pending)
        if _complete(text):
            for where, _ in pending_annotations:
                assert where == number, f"line {where}: annotation inside a command that ends on line {number}"
            assert text.strip(), f"line {number}: an annotation with no command before it on its line"
            steps.append(Step(text.strip("\n"), start, [e for _, e in pending_annotations]))
            pending, pending_annotations = [], []
    assert not pending, f"line {start}: incomplete Tcl command at the end of the block"
    return steps


def parse_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("```") and line.strip().lower().lstrip("`").strip() in ("tcl",) and line.strip() != "```tcl":
            raise AssertionError(f"line {i + 1}: write runnable examples as exactly ```tcl")
        if line.strip() == "```tcl":
            block = Block(i + 1, heading)
            j = i - 1
            while j >= 0 and MARKER.match(lines[j].strip()):
                marker = MARKER.match(lines[j].strip()).group(1)
                if m := re.fullmatch(r"ranks:\s*(\d+)", marker):
                    block.ranks = int(m.group(1))
                elif m := re.fullmatch(r"cell on ranks:\s*([0-9,\- ]+)", marker):
                    block.on_ranks = parse_ranks(m.group(1))
                elif marker == "own process":
                    block.own_process = True
                elif marker == "continues":
                    block.continues = True
                else:
                    raise AssertionError(f"line {j + 1}: unknown example marker {marker!r}")
                j -= 1
            end = lines.index("```", i + 1)
            block.steps = parse_steps("\n".join(lines[i + 1:end]), i + 2, block.ranks > 0)
            assert block.steps, f"line {i + 1}: an empty example"
            assert not (block.on_ranks and not block.ranks), f"line {i + 1}: `cell on ranks` needs `ranks: N`"
            blocks.append(block)
            i = end
        i += 1
    return blocks


BLOCKS = parse_blocks(DOC.read_text()) + parse_blocks((ROOT / "docs" / "families.md").read_text())


def chains(mode: str) -> list[list[Block]]:
    """Blocks of one mode, with each `continues` block kept after the block it continues."""
    found: list[list[Block]] = []
    for block in BLOCKS:
        if block.mode != mode:
            continue
        if block.continues:
            assert found, f"{block.where}: `continues` with no earlier block of its kind"
            found[-1].append(block)
        else:
            found.append([block])
    return found


# --- checking one command's outcome ------------------------------------------------------

@dataclass
class Outcome:
    result: str
    error: str | None
    output: str


def _matches(actual: str, expected: str) -> bool:
    if expected.endswith(" ..."):
        return actual.startswith(expected[:-4])
    return actual == expected


def check(block: Block, step: Step, outcome: Outcome, rank: int | None = None) -> None:
    where = f"{block.where}, line {step.line}" + ("" if rank is None else f", rank {rank}")
    mine = [e for e in step.expects if e.ranks is None or (rank is not None and rank in e.ranks)]
    by_kind: dict[str, Expect] = {}
    for e in mine:
        assert e.kind not in by_kind, f"{where}: two `{e.kind}` annotations apply"
        by_kind[e.kind] = e
    command = step.source.splitlines()[0]
    if outcome.error is not None:
        assert "error" in by_kind, f"{where}: `{command}` failed: {outcome.error}"
        assert _matches(outcome.error, by_kind["error"].value), (
            f"{where}: `{command}`\n  shown:  {by_kind['error'].value}\n  really: {outcome.error}")
        assert "result" not in by_kind, f"{where}: shows both a result and an error"
    else:
        assert "error" not in by_kind, f"{where}: `{command}` shows an error but returned {outcome.result!r}"
        if "result" in by_kind:
            assert _matches(outcome.result, by_kind["result"].value), (
                f"{where}: `{command}`\n  shown:  {by_kind['result'].value!r}\n  really: {outcome.result!r}")
    # torch's warnings are not a command's documented result: they depend on torch's version
    # and on what this process ran before (many are given once per process)
    printed = "\n".join(line for line in outcome.output.rstrip("\n").split("\n") if not line.startswith("warning: "))
    if "prints" in by_kind:
        assert _matches(printed, by_kind["prints"].value), (
            f"{where}: `{command}` printed\n{printed}\n  but the page shows\n{by_kind['prints'].value}")
    else:
        assert not printed, f"{where}: `{command}` printed {printed!r}, which the page does not show"


def outcome_of(result) -> Outcome:
    return Outcome(str(result.result), None if result.error is None else result.error.message, result.text())


# --- the examples ------------------------------------------------------------------------

def _ids(chain: list[Block]) -> str:
    return f"line{chain[0].line}"


@pytest.mark.parametrize("chain", chains("single"), ids=_ids)
def test_single_process_examples(chain):
    session = TclSession()
    for block in chain:
        for step in block.steps:
            check(block, step, outcome_of(session.eval(step.source)))


OWN_PROCESS_RUNNER = r"""
import json, sys
from tcl_magic import TclSession
session = TclSession()
out = []
for source in json.load(sys.stdin):
    r = session.eval(source)
    out.append([str(r.result), None if r.error is None else r.error.message, r.text()])
print(json.dumps(out))
"""


@pytest.mark.parametrize("chain", chains("own"), ids=_ids)
def test_own_process_examples(chain):
    steps = [(block, step) for block in chain for step in block.steps]
    done = subprocess.run([sys.executable, "-c", OWN_PROCESS_RUNNER], cwd=ROOT, capture_output=True, text=True,
                          input=json.dumps([step.source for _, step in steps]), timeout=120)
    assert done.returncode == 0, done.stderr
    for (block, step), (result, error, output) in zip(steps, json.loads(done.stdout.splitlines()[-1])):
        check(block, step, Outcome(result, error, output))


def _multirank_chains() -> list[list[Block]]:
    return [c for mode in sorted({b.mode for b in BLOCKS if b.ranks}) for c in chains(mode)]


@pytest.mark.parametrize("chain", _multirank_chains(), ids=_ids)
def test_multirank_examples(chain, cluster_of):
    cluster = cluster_of(chain[0].ranks)
    fresh(cluster)
    for block in chain:
        for step in block.steps:
            if block.on_ranks is None:
                results = on_all(cluster, step.source)
            else:
                ranks = list(block.on_ranks)
                results = cluster.run(remote.run_tcl, step.source, None, None, ranks, on_ranks=ranks, timeout=120)
            ran = {r.rank for r in results}
            for e in step.expects:
                assert e.ranks is None or set(e.ranks) <= ran, f"{block.where}, line {step.line}: no such rank"
            for r in results:
                check(block, step, outcome_of(r), r.rank)


def test_the_page_has_examples_of_every_kind():
    modes = {b.mode for b in BLOCKS}
    assert {"single", "own", "ranks4"} <= modes, modes
    # a handful of multi-rank blocks keeps this test quick
    assert len([b for b in BLOCKS if b.ranks]) <= 10


# --- the sections ------------------------------------------------------------------------

def _sections(text: str) -> dict[str, str]:
    """`### torch::name ...` heading -> the text up to the next heading of that level or above."""
    found = {}
    parts = re.split(r"^(#{1,3} .*)$", text, flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        m = re.fullmatch(r"### torch::(\w+)(?: \(torch::(\w+)\))?", heading.strip())
        if m:
            found[m.group(1)] = (m.group(2), body)
    return found


FAMILIES = ROOT / "docs" / "families.md"  # the derived commands' reference, written by tcl_magic.families_doc
SECTIONS = {**_sections(DOC.read_text()), **_sections(FAMILIES.read_text())}
ORDER = commands.TABLE.specs  # by topic, in the reference's order


def test_sections_cover_every_command_in_order():
    assert list(SECTIONS) == [s.name for s in ORDER]


def render_default(default) -> str:
    if default is REQUIRED:
        return "required"
    if default is None:
        return "none"
    if default == "" and isinstance(default, str):
        return '""'
    if isinstance(default, bool):
        return str(int(default))
    if isinstance(default, torch.dtype):
        return str(default).removeprefix("torch.")
    return str(default)


@pytest.mark.parametrize("spec", ORDER, ids=lambda s: s.name)
def test_section_matches_the_declaration(spec):
    camel, body = SECTIONS[spec.name]
    assert camel == (None if camel_case(spec.name) == spec.name else camel_case(spec.name))
    synopses = "\n".join(re.findall(r"```text\n(.*?)```", body, flags=re.S))
    positional = f"torch::{spec.name} {spec.usage}".rstrip()
    assert positional in synopses.splitlines(), f"the synopsis lacks `{positional}`"
    for param in spec.params:
        assert param.flag in synopses, f"the synopsis lacks {param.flag}"
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    table = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        table.append((re.match(r"`(\w+)`", cells[0]).group(1), cells[2].strip("`"), row))
    if not spec.params:
        assert not table and "no parameters" in body.lower()
        return
    assert [name for name, _, _ in table] == [p.name for p in spec.params]
    for param, (name, default, row) in zip(spec.params, table):
        assert default == render_default(param.default), f"{name}: the table says {default}"
        for alias in param.aliases:
            assert f"-{camel_case(alias)}" in row, f"{name}: the alias -{camel_case(alias)} is not mentioned"
    names = "|".join(re.escape(n) for n in spec.names)
    examples = "\n".join(re.findall(r"```tcl\n(.*?)```", body, flags=re.S))
    assert re.search(rf"torch::(?:{names})(?![\w])", examples), "no example calls the command"


def test_every_error_code_is_listed():
    codes = {"USAGE", "INTERNAL"}
    for path in (ROOT / "tcl_magic").rglob("*.py"):
        codes |= set(re.findall(r'TclCommandError\((?:[^"]|"(?:[^"\\]|\\.)*")*?,\s*"([A-Z]+)"\)',
                                path.read_text(), flags=re.S))
    text = DOC.read_text()
    for code in sorted(codes):
        assert f"`TORCH {code}" in text, f"the error code TORCH {code} is not described"


def test_the_families_page_is_what_its_generator_writes():
    from tcl_magic import families_doc
    assert FAMILIES.read_text() == families_doc.page(), "run: python -m tcl_magic.families_doc > docs/families.md"

"""What a command is, in words: `torch::help`, Tab completion's flags and Shift-Tab's text.

Everything comes from the declarations (usage, parameters, defaults, flag spellings,
docstrings); the example of each command is the first one its section of the reference
(docs/commands.md) shows, kept in examples.json next to this file (a test keeps the two
in step).
"""
from __future__ import annotations

import functools
import json
from importlib import resources

import torch

from .spec import REQUIRED, CommandSpec, camel_case


@functools.lru_cache(maxsize=1)
def examples() -> dict[str, str]:
    return json.loads(resources.files(__package__).joinpath("examples.json").read_text(encoding="utf-8"))


def flags(spec: CommandSpec) -> list[str]:
    """Every flag the command takes, in camelCase (the aliases too)."""
    found = []
    for param in spec.params:
        found += [f"-{camel_case(name)}" for name in (param.name, *param.aliases)]
    return list(dict.fromkeys(found))


def _default(value: object) -> str:
    if value is REQUIRED:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, bool):
        return str(int(value))
    return '""' if value == "" else str(value)


def command_help(spec: CommandSpec) -> str:
    """Usage in both syntaxes, other names, what it does, its parameters, one example."""
    lines = list(spec.synopsis)
    others = [f"torch::{n}" for n in spec.names if n != spec.name]
    if others:
        lines.append("also: " + ", ".join(others))
    if spec.doc:
        lines += ["", spec.doc]
    if spec.params:
        rows = [(p.name, p.kind.name, _default(p.default),
                 " ".join(f"-{camel_case(a)}" for a in (p.name, *p.aliases)), p.help) for p in spec.params]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines += ["", "parameters:"] + ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths + [0])).rstrip()
                                       for row in rows]
    example = examples().get(spec.name)
    if example:
        lines += ["", "example:", f"  {example}"]
    return "\n".join(lines)


def operator_help(name: str, forms: tuple[CommandSpec, ...]) -> str:
    """A generated torch::aten:: command: each overload's usage and torch's schema."""
    lines = [f"torch::aten::{name}: torch's operator aten::{name}, {len(forms)} form(s) (the first whose "
             "arguments convert runs)"]
    for spec in forms:
        lines += ["", f"torch::aten::{name} {spec.usage}".rstrip(), f"  {spec.doc}"]
    return "\n".join(lines)


def overview(specs: list[CommandSpec]) -> str:
    """Every command, a line each: its names and what it does."""
    width = max(len(s.name) for s in specs)
    lines = ["torch:: commands (torch::help NAME for one; torch::aten::NAME reaches every other torch operator, "
             "torch::help aten::NAME describes one):", ""]
    lines += [f"  {s.name.ljust(width)}  {s.doc.splitlines()[0] if s.doc else ''}".rstrip() for s in specs]
    return "\n".join(lines)

"""The command table: every torch:: command, hand-written and generated, built once.

A session installs it, completion and Shift-Tab read its names, torch::help and the docs
test read its declarations: all from this one object, so that none of them can list a
command another does not know.
"""
from __future__ import annotations

from functools import cached_property
from types import ModuleType

from .. import help_text
from ..spec import CommandSpec, camel_case, snake_case, specs_in
from . import aten


class CommandTable:
    """The hand-written commands by topic, in the reference's order, and the generated
    `torch::aten::` operators (declared from torch's schemas on first use)."""

    def __init__(self, *topics: ModuleType) -> None:
        self.topics = tuple((module.__name__.rsplit(".", 1)[-1], tuple(specs_in(module))) for module in topics)
        self.specs = tuple(spec for _, specs in self.topics for spec in specs)
        seen: dict[str, str] = {}
        for spec in self.specs:
            for name in spec.names:
                if seen.setdefault(name, spec.name) != spec.name:
                    raise TypeError(f"torch::{name} is declared twice: by {seen[name]} and by {spec.name}")

    @cached_property
    def by_name(self) -> dict[str, CommandSpec]:
        """Every spelling of every hand-written command -> its declaration."""
        return {name: spec for spec in self.specs for name in spec.names}

    def command_names(self) -> list[str]:
        return sorted(f"torch::{name}" for name in self.by_name)

    @staticmethod
    def operator_names() -> list[str]:
        return sorted({f"torch::aten::{n}" for name in aten.names() for n in (name, camel_case(name))})

    def describe(self, name: str) -> str | None:
        """The help text of torch::NAME (a command in either spelling, or aten::OPERATOR),
        or None if there is no such command: for torch::help and for Shift-Tab."""
        if name.startswith("aten::"):
            operator = snake_case(name.removeprefix("aten::"))
            forms = aten.forms(operator)
            return help_text.operator_help(operator, forms) if forms else None
        spec = self.by_name.get(name)
        return help_text.command_help(spec) if spec else None

    def overview(self) -> str:
        return help_text.overview(list(self.specs))

"""Handle registry: Tcl code names tensors and pending transfers by strings.

Numbering is a per-registry counter, so the same SPMD script produces the same handle
names on every rank, which is what lets one cell's text refer to "tensor3" everywhere.
Freeing never renumbers: a handle that nothing can reach any more is dropped (see
`TclSession.sweep`), and the counter goes on.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Iterator

import torch

OBJECT_KINDS = ("linear", "sequential", "relu", "sigmoid", "tanh", "ddp", "optimizer")
"""The prefixes of the other handles: modules (named after their kind) and optimizers."""
HANDLE_NAME = re.compile(r"\b(?:(?:tensor|%s)\d+|(?:isend|irecv)_handle_\w+)\b" % "|".join(OBJECT_KINDS))
"""Every handle name (what a sweep looks for in Tcl values)."""
FIRST_SWEEP_AT = 1000
"""Live tensors that trigger a sweep in the middle of an evaluation (then twice what survived)."""


class HandleError(LookupError):
    """A handle string that names nothing (the message is the contract's)."""


class HandleRegistry:
    """Maps `tensorN` names to tensors, work-handle names to pending work objects, and
    `linearN`, `optimizerN`, ... names to modules and optimizers."""

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}
        self.live = self._tensors  # read-only by convention: for the bridge's direct lookups
        self._works: dict[str, Any] = {}
        self._objects: dict[str, Any] = {}
        self._object_numbers: dict[str, Iterator[int]] = {}
        self._tensor_numbers = itertools.count(1)
        self._work_numbers = itertools.count(1)
        self.made = 0  # tensor handles made so far (the number of the newest)
        self.sweep_due = False  # many tensors are live: the command that made the last one sweeps
        self._sweep_at = FIRST_SWEEP_AT

    def add(self, tensor: torch.Tensor) -> str:
        self.sweep_due = len(self._tensors) >= self._sweep_at
        self.made = next(self._tensor_numbers)
        name = f"tensor{self.made}"
        self._tensors[name] = tensor
        return name

    def keep_only(self, reachable: set[str], newest_kept: int = 0) -> int:
        """Drop every handle not in `reachable`, but the `newest_kept` newest tensors (a
        command being evaluated may hold them as arguments, in no variable yet). Returns how
        many tensors were dropped."""
        oldest_kept = self.made - newest_kept
        dropped = [name for name in self._tensors.keys() - reachable if int(name[6:]) <= oldest_kept]
        for name in dropped:
            del self._tensors[name]
        for name in [name for name in self._works if name not in reachable]:
            del self._works[name]
        if not newest_kept:  # modules and optimizers only at the end of an evaluation
            for name in [name for name in self._objects if name not in reachable]:
                del self._objects[name]
        self.sweep_due = False
        self._sweep_at = max(FIRST_SWEEP_AT, 2 * len(self._tensors))
        return len(dropped)

    def clear(self) -> None:
        self._tensors.clear()  # in place: `live` is the same dict
        self._works.clear()
        self._objects.clear()

    def get(self, name: str) -> torch.Tensor:
        tensor = self._tensors.get(name)
        if tensor is None:
            raise HandleError(f"Invalid tensor handle: {name}")
        return tensor

    def find(self, name: str) -> torch.Tensor | None:
        """The tensor, or None: for parameters that take a handle or something else."""
        return self._tensors.get(name)

    def has(self, name: str) -> bool:
        return name in self._tensors

    def free(self, name: str) -> None:
        if self._tensors.pop(name, None) is None:
            raise HandleError(f"Invalid tensor handle: {name}")

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(self._tensors.items())

    def __len__(self) -> int:
        return len(self._tensors)

    def add_work(self, prefix: str, work: Any) -> str:
        """Register a pending transfer; the name carries its peer and tag for readability."""
        name = f"{prefix}_{next(self._work_numbers)}"
        self._works[name] = work
        return name

    def get_work(self, name: str) -> Any:
        try:
            return self._works[name]
        except KeyError:
            raise HandleError(f"Invalid work handle: {name}") from None


    def add_object(self, kind: str, obj: Any) -> str:
        """A module or an optimizer: named after its kind, numbered per kind (`linear1`)."""
        assert kind in OBJECT_KINDS, kind
        numbers = self._object_numbers.setdefault(kind, itertools.count(1))
        name = f"{kind}{next(numbers)}"
        self._objects[name] = obj
        return name

    def get_object(self, name: str, kind: type, noun: str) -> Any:
        """The object `name` names, which must be a `kind` (the message calls it a `noun`)."""
        obj = self._objects.get(name)
        if not isinstance(obj, kind):
            raise HandleError(f"Invalid {noun} handle: {name}")
        return obj

    def name_of(self, obj: Any) -> str | None:
        """The handle of an object already registered (a module given back by a command)."""
        return next((name for name, o in self._objects.items() if o is obj), None)

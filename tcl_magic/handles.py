"""Handle registry: Tcl code names tensors and pending transfers by strings.

Numbering is a per-registry counter, so the same SPMD script produces the same handle
names on every rank, which is what lets one cell's text refer to "tensor3" everywhere.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterator

import torch


class HandleError(LookupError):
    """A handle string that names nothing (the message is the contract's)."""


class HandleRegistry:
    """Maps `tensorN` names to tensors and work-handle names to pending work objects."""

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}
        self._works: dict[str, Any] = {}
        self._tensor_numbers = itertools.count(1)
        self._work_numbers = itertools.count(1)

    def add(self, tensor: torch.Tensor) -> str:
        name = f"tensor{next(self._tensor_numbers)}"
        self._tensors[name] = tensor
        return name

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

    def pop_work(self, name: str) -> Any:
        work = self.get_work(name)
        del self._works[name]
        return work

"""Handle registry: Tcl code names tensors and pending transfers by strings.

Numbering is a per-registry counter, so the same SPMD script produces the same handle
names on every rank, which is what lets one cell's text refer to "tensor3" everywhere.
Freeing never renumbers: a handle that nothing can reach any more is dropped (see
`TclSession.sweep`), and the counter goes on.

In the middle of an evaluation only handles in a *settled* run of numbers may be dropped:
those made by earlier iterations of a loop that is still running, which no command still
being assembled can hold as a word (see `HandleRegistry.boundary`).
"""
from __future__ import annotations

import bisect
import itertools
import re
from typing import Any, Callable, Iterable, Iterator

import torch

OBJECT_KINDS = ("linear", "sequential", "relu", "sigmoid", "tanh", "ddp", "optimizer",
                "conv2d", "maxpool1d", "maxpool2d", "maxpool3d", "batchnorm", "layernorm", "groupnorm", "dropout",
                "rnn", "lstm", "gru", "scheduler", "step_scheduler", "inverse_sqrt_scheduler",
                "linear_warmup_scheduler", "cyclic_scheduler", "lambda_scheduler", "constant_warmup_scheduler",
                "scaler")
"""The prefixes of the other handles: modules (named after their kind), optimizers,
learning-rate schedulers and gradient scalers."""
HANDLE_NAME = re.compile(r"\b(?:(?:tensor|%s)\d+|(?:isend|irecv)_handle_\w+)\b" % "|".join(OBJECT_KINDS))
"""Every handle name (what a sweep looks for in Tcl values)."""
SWEEP_BYTES = 16 << 20
"""Bytes of tensors made since the last sweep that make one due in the middle of an
evaluation: memory inside a loop stays near what the script can reach, plus this and one
iteration's tensors. (A sweep's cost grows with the Tcl values it reads, not with bytes, so
the budget need not grow with what survives.)"""
SWEEP_COUNT = 1000
"""Tensors made since the last sweep that make one due, unless twice as many survived it
(then that many): a sweep reads every value, so it waits for enough to free."""
BOUNDARY_BYTES = 1 << 20
BOUNDARY_COUNT = 64
"""Bytes, or tensors, made since the last recorded iteration boundary that make the next one
worth a call: they keep the settled runs fresh for an out-of-memory retry."""


def nbytes(tensor: torch.Tensor) -> int:
    """The tensor's size in bytes, for the sweep's accounting (a view counts as much again)."""
    try:
        return tensor.nbytes
    except RuntimeError:  # a sparse tensor has no nbytes: its dense size will do
        return tensor.numel() * tensor.element_size()


class HandleError(LookupError):
    """A handle string that names nothing: `Invalid NOUN handle: NAME`, the contract's words
    (`expected` says what else the parameter takes, if anything)."""

    def __init__(self, noun: str, name: str, expected: str = "") -> None:
        super().__init__(f"Invalid {noun} handle: {name}" + (f" (expected {expected})" if expected else ""))
        self.noun, self.name, self.expected = noun, name, expected

    def for_parameter(self, label: str) -> str:
        """The message for a value given as parameter `label`, also in the original's words:
        a tensor by the parameter it was for, another object by what the parameter calls it
        (`-layer`: Invalid layer name)."""
        expected = f"; expected {self.expected}" if self.expected else ""
        if self.noun == "tensor":
            return (f"Invalid tensor handle: {self.name} (Invalid tensor name for {label}: Tensor not found"
                    f"{expected})")
        word = label.lstrip("-")
        if word.endswith("s"):  # one of a list (-modules, -parameters)
            return (f"Invalid {self.noun} handle: {self.name} (Invalid {self.noun} name in {word}: "
                    f"{self.noun.capitalize()} not found{expected})")
        return f"Invalid {self.noun} handle: {self.name} (Invalid {word} name: {word.capitalize()} not found{expected})"


class Settled:
    """Runs of handle numbers that no command still being assembled can hold: (after, upto]
    pairs, disjoint and in order (a run's `upto` is the newest handle when it was recorded)."""

    def __init__(self) -> None:
        self._afters: list[int] = []
        self._uptos: list[int] = []

    def add(self, after: int, upto: int) -> None:
        """Every run ends at the newest handle, so a new one merges with those it reaches."""
        while self._uptos and self._uptos[-1] >= after:
            self._uptos.pop()
            after = min(after, self._afters.pop())
        self._afters.append(after)
        self._uptos.append(upto)

    def covers(self, number: int) -> bool:
        i = bisect.bisect_left(self._afters, number) - 1
        return i >= 0 and number <= self._uptos[i]

    def tensors_among(self, names: Iterable[str]) -> list[str]:
        """The `tensorN` names whose numbers are settled (one run, the usual case, needs no search)."""
        if len(self._afters) == 1:
            after, upto = self._afters[0], self._uptos[0]
            return [name for name in names if after < int(name[6:]) <= upto]
        return [name for name in names if self.covers(int(name[6:]))]

    def clear(self) -> None:
        self._afters.clear()
        self._uptos.clear()


class HandleRegistry:
    """Maps `tensorN` names to tensors, work-handle names to pending work objects, and
    `linearN`, `optimizerN`, ... names to modules and optimizers.

    It also keeps what a sweep in the middle of an evaluation needs: the tensors made since
    the last sweep (count and bytes), which runs of handle numbers are settled, and which
    are not yet, told through `on_due` (see `boundary`)."""

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}
        self.live = self._tensors  # read-only by convention: for the bridge's direct lookups
        self._works: dict[str, tuple[int, Any]] = {}  # name -> (the newest tensor number then, work)
        self._objects: dict[str, Any] = {}
        self._object_numbers: dict[str, Iterator[int]] = {}
        self._work_numbers = itertools.count(1)
        self.made = 0  # tensor handles made so far (the number of the newest)
        self.sweep_bytes, self.sweep_count = SWEEP_BYTES, SWEEP_COUNT  # a session may change them
        self.on_due: Callable[[int], None] = lambda first: None
        self._settled = Settled()
        self._unsettled: list[int] = []  # first numbers of the runs worth a boundary, oldest first
        self._bytes_made = 0  # by every tensor made so far
        self._after_sweep = (0, 0, 0)  # made, bytes made and live count right after it
        self._start_run()

    def _start_run(self) -> None:
        """The next tensor starts a run, which ends when it is worth a boundary."""
        self._run_first = self.made + 1
        self._run_ends_at = (self._bytes_made + BOUNDARY_BYTES, self.made + BOUNDARY_COUNT)  # bytes made, number

    def add(self, tensor: torch.Tensor) -> str:
        self.made += 1
        name = f"tensor{self.made}"
        self._tensors[name] = tensor
        self._bytes_made += nbytes(tensor)
        if self._bytes_made >= self._run_ends_at[0] or self.made >= self._run_ends_at[1]:
            self._end_run()
        return name

    def _end_run(self) -> None:
        """A run worth recording is complete: a loop entered before it began should settle it."""
        self._unsettled.append(self._run_first)
        self._start_run()
        self.on_due(self._unsettled[-1])

    def boundary(self, mark: int) -> bool:
        """A loop entered when `mark` was the newest tensor handle starts an iteration: every
        command of its earlier iterations has completed, and the commands still being
        assembled around the loop had their words before it began, so the handles made since
        are settled. Returns whether a sweep is due."""
        self._settled.add(mark, self.made)
        while self._unsettled and self._unsettled[-1] > mark:
            self._unsettled.pop()
        if self._run_first > mark:
            self._start_run()
        self.on_due(self._unsettled[-1] if self._unsettled else 0)
        return self._sweep_due()

    def _sweep_due(self) -> bool:
        made, bytes_made, count = self._after_sweep
        return (self._bytes_made - bytes_made > self.sweep_bytes
                or self.made - made > max(self.sweep_count, 2 * count))

    def keep_only(self, reachable: set[str], settled_only: bool = False) -> int:
        """Drop every handle not in `reachable`; with `settled_only` (in the middle of an
        evaluation) only the tensors and work handles made in a settled run, and no module or
        optimizer. Returns how many tensors were dropped."""
        dropped = self._tensors.keys() - reachable
        works = [name for name in self._works if name not in reachable]
        if settled_only:
            dropped = self._settled.tensors_among(dropped)
            works = [name for name in works if self._settled.covers(self._works[name][0])]
        for name in dropped:
            del self._tensors[name]
        for name in works:
            del self._works[name]
        if not settled_only:
            for name in [name for name in self._objects if name not in reachable]:
                del self._objects[name]
            self._forget_runs()
        self._after_sweep = (self.made, self._bytes_made, len(self._tensors))
        return len(dropped)

    def _forget_runs(self) -> None:
        """At the end of an evaluation nothing is pending: runs start again from here."""
        self._settled.clear()
        self._unsettled.clear()
        self._start_run()
        self.on_due(0)

    def clear(self) -> None:
        self._tensors.clear()  # in place: `live` is the same dict
        self._works.clear()
        self._objects.clear()

    def get(self, name: str) -> torch.Tensor:
        tensor = self._tensors.get(name)
        if tensor is None:
            raise HandleError("tensor", name)
        return tensor

    def find(self, name: str) -> torch.Tensor | None:
        """The tensor, or None: for parameters that take a handle or something else."""
        return self._tensors.get(name)

    def has(self, name: str) -> bool:
        return name in self._tensors

    def free(self, name: str) -> None:
        if self._tensors.pop(name, None) is None:
            raise HandleError("tensor", name)

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(self._tensors.items())

    def __len__(self) -> int:
        return len(self._tensors)

    def add_work(self, prefix: str, work: Any) -> str:
        """Register a pending transfer; the name carries its peer and tag for readability.
        It is numbered for settling as a tensor made then would be (the newest number), so
        only a loop entered before an earlier tensor can settle it."""
        name = f"{prefix}_{next(self._work_numbers)}"
        self._works[name] = (self.made, work)
        return name

    def get_work(self, name: str) -> Any:
        try:
            return self._works[name][1]
        except KeyError:
            raise HandleError("work", name) from None

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
            raise HandleError(noun, name)
        return obj

    def name_of(self, obj: Any) -> str | None:
        """The handle of an object already registered (a module given back by a command)."""
        return next((name for name, o in self._objects.items() if o is obj), None)

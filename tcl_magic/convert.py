"""Conversions between Tcl text and torch values, kept in one place.

Every crossing of the language boundary (a dtype name, a device, a shape, a nested list
of numbers, a tensor turned back into a Tcl list) goes through here, so that an
unsupported value is reported the same way wherever it comes from.
"""
from __future__ import annotations

import functools
import re
from typing import Callable, Sequence

import numpy as np
import torch

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float": torch.float32,
    "float64": torch.float64, "double": torch.float64,
    "float16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "int32": torch.int32, "int": torch.int32,
    "int64": torch.int64, "long": torch.int64,
    "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}
DTYPE_CHOICES = "float32 float64 float16 bfloat16 int32 int64 int8 uint8 bool"

_DTYPE_TITLES = {
    torch.float32: "Float32", torch.float64: "Float64", torch.float16: "Float16",
    torch.bfloat16: "BFloat16", torch.int32: "Int32", torch.int64: "Int64",
    torch.int8: "Int8", torch.uint8: "UInt8", torch.bool: "Bool",
}

SplitList = Callable[[str], Sequence[str]]


class ConversionError(ValueError):
    """A Tcl value that cannot become the torch value asked for; the text says what it must be."""


def dtype_from_tcl(text: str) -> torch.dtype:
    try:
        return DTYPES[text.lower()]
    except KeyError:
        raise ConversionError(f"Must be one of: {DTYPE_CHOICES}") from None


def dtype_to_tcl(dtype: torch.dtype) -> str:
    """The capitalised names scripts compare against (`Float32`, `Int64`, ...)."""
    return _DTYPE_TITLES.get(dtype, str(dtype).removeprefix("torch.").capitalize())


def device_from_tcl(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConversionError("Must be a device such as cpu, cuda or cuda:0") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConversionError("CUDA is not available on this rank; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConversionError(f"this rank sees {torch.cuda.device_count()} CUDA device(s)")
    return device


INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def int_from_tcl(text: str) -> int:
    """An integer that torch can hold (64 bits)."""
    value = _int_or_none(text)
    if value is None:
        raise ConversionError("Must be an integer.")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ConversionError(f"Must be an integer from {INT64_MIN} to {INT64_MAX}.")
    return value


def _int_or_none(text: str) -> int | None:
    try:
        return int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else int(text)
    except (ValueError, TypeError, IndexError):
        return None


def number_from_tcl(text: str) -> int | float:
    """An integer (one past 64 bits becomes a float, as in a torch tensor) or a float."""
    value = _int_or_none(text)
    if value is not None:
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    try:
        return float(text)
    except ValueError:
        raise ConversionError("Must be a number.") from None


_BOOL_WORDS = ("1", "true", "yes", "on", "0", "false", "no", "off")


def is_bool_word(text: str) -> bool:
    return text.strip().lower() in _BOOL_WORDS


def is_device_word(text: str) -> bool:
    """A word that can only name a device (`cpu`, `cuda`, `cuda:1`, `mps`)."""
    return re.fullmatch(r"(cpu|cuda|mps|meta|xpu)(:\d+)?", text.strip().lower()) is not None


def bool_from_tcl(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConversionError("Must be a boolean (1, 0, true, false).")


def int_list_from_tcl(text: str, split: SplitList) -> list[int]:
    try:
        values = [int(item) for item in split(text)]
    except ValueError:
        raise ConversionError("Must be a list of integers.") from None
    if any(not INT64_MIN <= v <= INT64_MAX for v in values):
        raise ConversionError(f"Must be a list of integers from {INT64_MIN} to {INT64_MAX}.")
    return values


def ranks_from_tcl(text: str, split: SplitList) -> list[int]:
    """A Tcl list of distinct ranks >= 0 (a group's members)."""
    ranks = int_list_from_tcl(text, split)
    if not ranks or min(ranks) < 0 or len(set(ranks)) != len(ranks):
        raise ConversionError("Must be a non-empty list of distinct ranks >= 0.")
    return ranks


def shape_from_tcl(text: str, split: SplitList, allow_inferred: bool = False) -> tuple[int, ...]:
    """A Tcl list of non-negative integers (one -1 allowed where a size can be inferred)."""
    dims = tuple(int_list_from_tcl(text, split))
    lowest = -1 if allow_inferred else 0
    if any(d < lowest for d in dims) or dims.count(-1) > 1:
        raise ConversionError("Must be a list of non-negative integers"
                              + (" (one -1 allowed)." if allow_inferred else "."))
    return dims


def data_from_tcl(text: str, split: SplitList) -> torch.Tensor:
    """A flat or nested Tcl list of numbers -> int64, float64 or bool tensor; nesting gives the shape."""
    items = split(text)
    if items and any(_is_nested(item, split) for item in items):
        rows = [data_from_tcl(item, split) for item in items]
        if len({tuple(r.shape) for r in rows}) != 1:
            raise ConversionError("Must be a rectangular nested list of numbers.")
        common = functools.reduce(torch.promote_types, (r.dtype for r in rows))
        return torch.stack([r.to(common) for r in rows])
    return torch.from_numpy(_numbers(items))


def _is_nested(item: str, split: SplitList) -> bool:
    return (" " in item or "\t" in item or "\n" in item) and len(split(item)) > 1


def _numbers(items: Sequence[str]) -> np.ndarray:
    for kind in (np.int64, np.float64):
        try:
            return np.array(items, dtype=np.str_).astype(kind)
        except (ValueError, OverflowError):
            continue
    try:
        return np.array([bool_from_tcl(item) for item in items], dtype=np.bool_)
    except ConversionError:
        raise ConversionError("Must be a list of numbers.") from None


def tensor_to_tcl(tensor: torch.Tensor) -> tuple:
    """A tensor's values as a flat tuple (a Tcl list once returned to Tcl)."""
    flat = tensor.detach().reshape(-1).cpu()
    if flat.dtype == torch.bool:
        return tuple(int(v) for v in flat.tolist())
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    return tuple(flat.tolist())


def scalar_to_tcl(value: float | int | bool) -> int | float:
    return int(value) if isinstance(value, bool) else value


# --- Python values <-> Tcl variables (the -i/-o of %%torchtcl) -----------------------------
#
# A value crossing from the kernel to the ranks becomes a tensor (a Tcl variable holding a
# handle) or, for text, a plain Tcl string; a Tcl variable coming back is a CPU tensor when
# it holds a handle, else its text. An unsupported value names the direction and the type.

_TO_TCL_SUPPORTED = "torch.Tensor, numpy.ndarray, int, float, bool, str, or a (nested) list of numbers"


def _unsupported(name: str, value: object, why: str = "") -> ConversionError:
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    detail = f" ({why})" if why else ""
    return ConversionError(f"cannot send {name!r} of type {kind} from Python to Tcl (-i){detail}; "
                           f"supported: {_TO_TCL_SUPPORTED}")


@functools.singledispatch
def python_to_tcl(value: object, name: str = "value") -> "torch.Tensor | str":
    """A Python value as a rank will hold it: a CPU tensor (becomes a handle) or a string."""
    raise _unsupported(name, value)


@python_to_tcl.register
def _(value: torch.Tensor, name: str = "value") -> torch.Tensor:
    return value.detach().cpu()


@python_to_tcl.register
def _(value: np.ndarray, name: str = "value") -> torch.Tensor:
    try:
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    except TypeError as err:
        raise _unsupported(name, value, f"numpy dtype {value.dtype} has no torch equivalent") from err


@python_to_tcl.register(bool)
@python_to_tcl.register(int)
@python_to_tcl.register(float)
def _(value, name: str = "value") -> torch.Tensor:
    try:
        return torch.tensor(value)
    except (RuntimeError, OverflowError, ValueError) as err:  # an int past 64 bits
        raise _unsupported(name, value, f"{value} does not fit a 64-bit integer tensor") from err


@python_to_tcl.register(list)
@python_to_tcl.register(tuple)
def _(value, name: str = "value") -> torch.Tensor:
    try:
        return torch.tensor(value)
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise _unsupported(name, value, f"not a rectangular list of numbers: {str(err).splitlines()[0]}") from None


@python_to_tcl.register
def _(value: str, name: str = "value") -> str:
    return value


def tcl_variable_to_python(name: str, text: str, find_tensor: Callable[[str], "torch.Tensor | None"]):
    """A Tcl variable's value for Python: the tensor its handle names (on the CPU), else its text."""
    tensor = find_tensor(text)
    if tensor is not None:
        return tensor.detach().cpu().clone()
    return text

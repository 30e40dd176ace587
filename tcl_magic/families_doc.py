"""docs/families.md, the reference of the commands derived from torch (the original's
vocabulary), written from their declarations: a section per command, in the format of
docs/commands.md, with an example that ran when the page was made and shows its result.

    python -m tcl_magic.families_doc > docs/families.md

A test checks that the committed page is what this writes, and runs every example on it.
"""
from __future__ import annotations

import sys

from . import commands
from .help_text import _default
from .session import TclSession
from .spec import CommandSpec, camel_case

SETUP = ("set m [torch::tensor_create {{0.5 0.25} {0.75 1.0}}]; set v [torch::tensor_create {0.5 0.25 0.75}]; "
         "set img [torch::ones {1 2 4 4}]; set seq [torch::ones {1 2 8}]; set vol [torch::ones {1 2 4 4 4}]; "
         "set w [torch::ones {2} -requiresGrad 1]; set opt [torch::optimizer_sgd $w 0.1]; "
         "set sched [torch::lr_scheduler_step $opt 2]; torch::manual_seed 0")
SCENARIOS = [
    {"tensor": "$m", "integer": "1", "number": "0.5", "integer or integers": "1", "integers": "{0}", "shape": "{2 2}",
     "tensors": "[list $m $m]", "parameters": "$w", "optimizer": "$opt", "scheduler": "$sched", "string": "mean"},
    {"tensor": "$v", "integer": "0", "number": "1.0", "integer or integers": "1", "integers": "{1 1}",
     "shape": "{3}", "tensors": "[list $v $v]", "string": "ij", "boolean": "0"},
    {"tensor": "$img", "integer": "2", "number": "2.0", "integer or integers": "2", "integers": "{1 1 1 1}",
     "shape": "{1 2 4 4}", "tensors": "[list $img $img]"},
    {"tensor": "$seq", "integer": "2", "number": "2.0", "integer or integers": "2", "integers": "{1 1}"},
    {"tensor": "$vol", "integer": "2", "number": "2.0", "integer or integers": "2", "integers": "{1 1 1 1 1 1}"},
    {"tensor": "$m", "integer": "2", "number": "1.0", "integer or integers": "2", "integers": "{2 2}"},
]


def derived_specs() -> list[CommandSpec]:
    return [spec for name, specs in commands.TABLE.topics if name in commands.DERIVED for spec in specs]


EXAMPLES = {  # where no scenario fits: the arguments of one call
    "bitwise_not": "[torch::tensor_create {1 2} int64]", "bitwise_left_shift": "[torch::tensor_create {1 2} int64] 1",
    "bitwise_right_shift": "[torch::tensor_create {4 8} int64] 1", "bitwise_and": "[torch::tensor_create {3 5} int64] 1",
    "bitwise_or": "[torch::tensor_create {3 5} int64] 1", "bitwise_xor": "[torch::tensor_create {3 5} int64] 1",
    "prelu": "$v [torch::tensor_create {0.25}]", "cross": "$v $v", "tensor_where": "[torch::gt $v 0.3] $v $v",
    "tensor_masked_fill": "$v [torch::gt $v 0.3] 0", "take_along_dim": "$v [torch::tensor_create {2 0} int64]",
    "tensor_split": "$v 3", "hsplit": "$v 3", "vsplit": "$m 2", "dsplit": "[torch::ones {1 1 4}] 2",
    "tensor_bmm": "[torch::ones {1 2 2}] [torch::ones {1 2 2}]", "einsum": "ij,jk $m $m",
    "broadcast_shapes": "{2 1} {1 3}", "tensor_cholesky": "[torch::eye 2]", "bernoulli": "$v",
    "lu_solve": "$m [torch::eye 2] [torch::tensor_create {1 2} int32]",
    "atleast_1d": "$v", "atleast_2d": "$v", "atleast_3d": "$v", "tensor_permute": "$m {1 0}", "tensor_clamp": "$v 0.3 0.6",
    "conv_transpose1d": "$seq [torch::ones {2 3 3}]", "conv_transpose_2d": "$img [torch::ones {2 3 3 3}]",
    "conv_transpose3d": "$vol [torch::ones {2 3 3 3 3}]", "tensor_conv_transpose1d": "$seq [torch::ones {2 3 3}]",
    "tensor_conv_transpose2d": "$img [torch::ones {2 3 3 3}]", "rms_norm": "$m {2}",
    "fold": "[torch::ones {1 4 4}] {3 3} {2 2}", "interpolate": "$img {8 8}",
    "grid_sample": "$img [torch::zeros {1 2 2 2}]", "affine_grid": "[torch::ones {1 2 3}] {1 2 4 4}",
    "fractional_maxpool2d": "$img 2", "fractional_maxpool3d": "$vol 2 {0.5 0.5 0.5}",
    "multi_margin_loss": "$m [torch::tensor_create {0 1}]", "focal_loss": "$m [torch::tensor_create {0 1}]",
    "cosine_embedding_loss": "$m $m [torch::tensor_create {1 1}]", "lr_scheduler_one_cycle": "$opt 0.1 10",
    "lr_scheduler_onecycle_advanced": "$opt 0.1 10", "tensordot": "$m $m {1}",
    "lr_scheduler_step": "$opt 10", "lr_scheduler_cosine": "$opt 10", "lr_scheduler_cosine_annealing": "$opt 10",
    "lr_scheduler_cosine_annealing_warm_restarts": "$opt 10", "lr_scheduler_cyclic": "$opt 0.01 0.1",
    "lr_scheduler_polynomial": "$opt 10", "lr_scheduler_inverse_sqrt": "$opt 10", "lr_scheduler_noam": "$opt 512",
    "lr_scheduler_linear_with_warmup": "$opt 2 10",
    "upsample_bilinear": "$img {8 8}", "upsample_nearest": "$img {8 8}", "resize_image": "$img {2 2}",
    "nms": "[torch::tensor_create {{0 0 2 2} {0 0 2 1} {3 3 4 4}}] [torch::tensor_create {0.9 0.8 0.7}] 0.5",
    "roi_align": "$img [torch::tensor_create {{0 0 0 4 4}}] {2 2}",
    "roi_pool": "$img [torch::tensor_create {{0 0 0 3 3}}] {2 2}",
    "sparse_coo_tensor": "[torch::tensor_create {{0 1} {1 0}} int64] $v {2 2}",
    "sparse_tensor_create": "[torch::tensor_create {{0 1} {1 0}} int64] $v {2 2}",
    "sparse_csr_tensor": "[torch::tensor_create {0 1 2} int64] [torch::tensor_create {1 0} int64] "
                         "[torch::tensor_create {0.5 0.25}] {2 2}",
    "sparse_csc_tensor": "[torch::tensor_create {0 1 2} int64] [torch::tensor_create {1 0} int64] "
                         "[torch::tensor_create {0.5 0.25}] {2 2}",
    "gather_nd": "$m [torch::tensor_create {{0 0} {1 1}} int64]",
    "scatter_nd": "$m [torch::tensor_create {{0 0} {1 1}} int64] [torch::tensor_create {9.0 8.0}]",
    "embedding_bag": "[torch::tensor_create {0 1 1} int64] $m [torch::tensor_create {0 1} int64] 1",
    "positional_encoding": "4 8 0.0", "gamma": "{2 2} 2.0 1.0",
    "conv2d_set_weights": "[torch::conv2d 2 1 1] [torch::ones {1 2 1 1}]",
    "transformer_encoder_layer": "$m 2 1 4 0.0", "transformer_decoder_layer": "$m $m 2 1 4 0.0",
    "transformer_encoder": "$m 2 1 2 4", "transformer_decoder": "$m $m 2 1 2 4",
}


SHOWN = {  # where the value itself changes from run to run or machine to machine: a property of it
    "seed": "string is wideinteger [torch::seed]", "get_num_threads": "expr {[torch::get_num_threads] > 0}",
    "memory_snapshot": "string match timestamp:* [torch::memory_snapshot]",
    "benchmark": "expr {[torch::benchmark add 2 10x10] > 0}",
    "memory_stats": "string match cuda_available:* [torch::memory_stats]",
    "memory_summary": "expr {[string length [torch::memory_summary]] > 0}",
    "empty_cache": "expr {[torch::empty_cache] in {cache_cleared cuda_not_available}}",
    "synchronize": "torch::synchronize cpu",
    "profiler_start": "list [torch::profiler_start] [torch::profiler_stop]",
    "autocast_enable": "list [torch::autocast_enable cpu] [torch::autocast_disable cpu]",
    "autocast_set_dtype": "torch::autocast_set_dtype bfloat16 cpu",
    "set_num_threads": "expr {[torch::set_num_threads [torch::get_num_threads]] > 0}",
    "cuda_device_info": "expr {[catch {torch::cuda_device_info} m] ? [string match *CUDA* $m] : [string match Dev* $m]}",
    "cuda_memory_info": "expr {[catch {torch::cuda_memory_info} m] ? [string match *CUDA* $m] : [string match Dev* $m]}",
}


def _call(spec: CommandSpec, scenario: dict[str, str]) -> str | None:
    if spec.name in EXAMPLES:
        return f"torch::{spec.name} {EXAMPLES[spec.name]}"
    scenario = {**scenario, "tensor|number": scenario.get("tensor", ""), "dtype": "float32"}
    words = []
    for param in spec.required:
        word = scenario.get(param.kind.name)
        if word is None:
            return None
        words.append(word)
    return " ".join([f"torch::{spec.name}", *words])


def example(spec: CommandSpec) -> tuple[str, str] | None:
    """A call that works, shown by what it gives: a tensor's shape, a list of handles' count,
    or the value itself; and that result."""
    if spec.name in SHOWN:
        result = TclSession().eval(SETUP + "; " + SHOWN[spec.name])
        return (SHOWN[spec.name], result.result) if result.error is None else None
    for scenario in SCENARIOS:
        call = _call(spec, scenario)
        if call is None:
            continue
        session = TclSession()  # as the docs test runs a block: from a fresh session
        session.eval(SETUP)
        done = session.eval(f"set r [{call}]")
        if done.error is not None:
            continue
        value = done.result
        if session.handles.find(value) is not None:
            shown = f"torch::tensor_shape [{call}]"
        elif value.startswith("tensor"):
            shown = f"llength [{call}]"
        else:
            shown = call
        session = TclSession()
        result = session.eval(SETUP + "; " + shown)
        if result.error is None and "\n" not in result.result and not result.text():
            return shown, result.result
    return None


def section(spec: CommandSpec) -> str:
    camel = camel_case(spec.name)
    heading = f"### torch::{spec.name}" + (f" (torch::{camel})" if camel != spec.name else "")
    lines = [heading, "", spec.doc or "(see torch's documentation of the same name)", "", "```text", *spec.synopsis,
             "```", ""]
    others = [f"`torch::{n}`" for n in spec.names if n not in (spec.name, camel)]
    if others:
        lines += ["Also " + ", ".join(others) + ".", ""]
    if spec.params:
        lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
        for p in spec.params:
            flags = ", ".join(f"`-{camel_case(a)}`" for a in (p.name, *p.aliases))
            default = _default(p.default)
            lines.append(f"| `{p.name}` | {p.kind.name} | `{default}` | flags {flags} |")
        lines.append("")
    else:
        lines += ["No parameters.", ""]
    found = example(spec)
    call = found[0] if found else f"catch {{torch::{spec.name}}}"
    annotation = f"   ;# -> {found[1]}" if found else "   ;# -> 1"
    lines += ["```tcl", SETUP.replace("; ", "\n"), call + annotation, "```", ""]
    return "\n".join(lines)


def page() -> str:
    head = ("# The original's vocabulary: commands derived from torch\n\n"
            "These commands carry the names, synonyms, parameter spellings, positional orders and\n"
            "defaults of the original C++ extension; each is declared from torch's own description of\n"
            "the operation (its operator schema, or the signature of the torch.nn module, optimizer or\n"
            "scheduler), so it keeps every rule of [commands.md](commands.md): both names, both syntaxes,\n"
            "the same error messages, handles. This page is written by `python -m tcl_magic.families_doc`;\n"
            "every example on it is run by the tests.\n\n## Reference\n\n")
    return head + "\n".join(section(spec) for spec in derived_specs())


if __name__ == "__main__":
    sys.stdout.write(page())

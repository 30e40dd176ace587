"""The Tcl examples of docs/distributed_scatter.md, block by block, with the inputs they take as given.

The page's examples call a few helpers of the reader's own (`create_large_batch`,
`process_batch`, ...) and use data variables (`$large_data`, `$data_shape`, ...). The
prelude defines small stand-ins for exactly those, so every block runs as written.
"""
from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "distributed_scatter.md"

GROUPS = ("workers", "data_parallel", "model_parallel", "data_workers", "pipeline_group",
          "model_group", "ring_group", "level1_group", "level2_group", "group1")

PRELUDE = r"""
set world_size [torch::get_world_size]
set large_data {}
for {set i 0} {$i < 24} {incr i} {lappend large_data $i.0}
set data_shape {8 3}
set param_data $large_data; set param_shape {6 4}
set task_data $large_data; set task_shape {12 2}
set data_3d $large_data
set input_data {1 2 3 4 5 6 7 8}; set shape {4 2}
set local_leader 0
set size 16
proc create_large_batch {} {torch::tensor_create -data $::large_data -shape {8 3}}
proc process_batch {batch} {torch::tensor_mul $batch 2.0}
proc get_layer_parameters {} {torch::tensor_create -data $::large_data -shape {4 6}}
proc get_data_source_rank {} {return 0}
proc get_optimal_source_rank {} {return 0}
proc create_large_tensor {size} {torch::ones [list $size 4]}
proc local_processing {chunk} {torch::tensor_add $chunk 1.0}
proc compute_gradients {chunk} {torch::tensor_mul $chunk 0.5}
if {$world_size > 1} {
    set everyone {}
    for {set r 0} {$r < $world_size} {incr r} {lappend everyone $r}
    foreach name {%s} {torch::distributed_new_group $name $everyone}
}
""" % " ".join(GROUPS)

# Syntax synopses (`tensor ?src? ?group?`), not runnable examples.
SYNOPSES = ("Snake_case (Original)", "CamelCase (Refactored)", "Named Parameters")
# Blocks whose statements are each an error example: run one statement at a time.
ERROR_BLOCK = "Error Messages"


def blocks() -> list[tuple[str, str]]:
    """(heading, source) for every runnable ```tcl block of the page, in order."""
    found, heading = [], ""
    for part in re.split(r"(```tcl\n.*?```)", PAGE.read_text(), flags=re.S):
        if part.startswith("```tcl"):
            found.append((heading, part[len("```tcl\n"):-3]))
        else:
            headings = re.findall(r"^#+ (.+)$", part, flags=re.M)
            heading = headings[-1] if headings else heading
    return [(h, src) for h, src in found if h not in SYNOPSES]


def error_statements(source: str) -> list[tuple[str, str]]:
    """(statement, expected message) pairs of the error block: `cmd` then `# Error: msg`, and
    the message's usage lines in the comment lines right after it (`# Usage: ...`, `#   ...`)."""
    lines = [line for line in source.splitlines() if line.strip()]
    pairs = []
    for i, (statement, expected) in enumerate(zip(lines, lines[1:])):
        if expected.startswith("# Error: ") and not statement.startswith("#"):
            message = [expected[len("# Error: "):]]
            for more in lines[i + 2:]:
                if not (more.startswith("# Usage: ") or more.startswith("#   ")):
                    break
                message.append(more[2:])
            pairs.append((statement, "\n".join(message)))
    return pairs

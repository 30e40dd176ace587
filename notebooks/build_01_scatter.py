"""Write notebooks/01_scatter.ipynb from the cells below and run it, saving its outputs
(see build.py):

    python notebooks/build_01_scatter.py
"""
from build import CODE, MD, build

CELLS = [
    MD("# Scattering a tensor across ranks, cell by cell\n\n"
       "This notebook walks through the examples of `torch::distributed_scatter` "
       "([docs/distributed_scatter.md](../docs/distributed_scatter.md)) with the `%%torchtcl` magic: first in "
       "the kernel alone (a world of one), then on a local cluster of 4 CPU ranks (gloo), where every cell runs "
       "on every rank and the scatter is the real `torch.distributed` one.\n\n"
       "After each cell, a table shows the Tcl variables that hold tensors, one column per rank; a variable "
       "whose shape differs across ranks is marked, and a scatter gets a picture of which rows each rank holds."),
    CODE("%load_ext tcl_magic"),
    MD("## Basic usage, in the kernel\n\n"
       "With no cluster, a cell runs in the kernel's own Tcl interpreter. Every collective does what it does "
       "for one process: the scatter returns a copy. The value of the last command is the cell's result."),
    CODE("%%torchtcl\n"
         "# Create a tensor\n"
         "set tensor [torch::tensor_create -data {1.0 2.0 3.0 4.0} -shape {2 2} -dtype float32]\n\n"
         "# Positional syntax - default source rank 0\n"
         "set result1 [torch::distributed_scatter $tensor]\n\n"
         "# Named syntax - explicit source rank\n"
         "set result2 [torch::distributed_scatter -tensor $tensor -src 0]\n\n"
         "# CamelCase alias\n"
         "set result3 [torch::distributedScatter $tensor 0]\n"
         "torch::tensor_to_list $result3"),
    MD("## A cluster of 4 ranks\n\n"
       "`%torchtcl cluster start` starts the ranks (ipyparallel engines joined into one process group) and "
       "shows where each rank lives. From now on every `%%torchtcl` cell runs on all 4 ranks."),
    CODE("%torchtcl cluster start -n 4 --backend gloo --timeout 30"),
    MD("Rank 0 scatters a 10x3 tensor: 10 rows over 4 ranks give 3, 3, 2 and 2 rows. Every rank creates "
       "`data` (SPMD), but only the source's copy matters. Output that is the same on several ranks is shown "
       "once, labelled with those ranks.\n\n"
       "In JupyterLab with the torchtcl extension, each cell on the cluster shows its view: the tab of a rank "
       "shows what that rank printed, a click on a variable shows its values on each rank, and the timeline "
       "shows when each rank reached the scatter and how long it waited for the last one."),
    CODE("%%torchtcl\n"
         "set data [torch::tensor_reshape [torch::arange -start 0 -end 30 -dtype float32] {10 3}]\n"
         "set chunk [torch::distributed_scatter $data 0]\n"
         "puts \"rank [torch::get_rank] holds [lindex [torch::tensor_shape $chunk] 0] rows\""),
    MD("`-o` brings a Tcl variable back to Python: on a cluster, a list with one tensor per rank, in rank order."),
    CODE("%%torchtcl -o chunk --no-table\nset chunk"),
    CODE("[c.tolist() for c in chunk]"),
    CODE("import torch\ntorch.equal(torch.cat(chunk), torch.arange(30.0).reshape(10, 3))"),
    MD("## Different source ranks\n\n"
       "`src` is a global rank. Only the source's tensor is split, so here rank 2 makes its own tensor "
       "different to show where the rows come from."),
    CODE("%%torchtcl\n"
         "set mine [torch::full {6 2} [torch::get_rank] float32]\n"
         "# Scatter from rank 1\n"
         "set result1 [torch::distributed_scatter $mine 1]\n"
         "# Scatter from rank 2 with named syntax\n"
         "set result2 [torch::distributed_scatter -tensor $mine -src 2]\n"
         "puts \"from rank 2: [torch::tensor_to_list $result2]\""),
    MD("## Process groups\n\n"
       "A group is created on every rank with `torch::distributed_new_group`. A rank outside the group takes "
       "no part and gets an empty tensor (0 rows), so the same code runs everywhere."),
    CODE("%%torchtcl\n"
         "torch::distributed_new_group workers {1 2 3}\n"
         "set result [torch::distributed_scatter $data 1 workers]\n"
         "set named [torch::distributed_scatter -tensor $data -src 1 -group workers]"),
    MD("## Scatter vs broadcast\n\n"
       "A broadcast gives every rank the whole tensor; a scatter gives each rank its own rows."),
    CODE("%%torchtcl\n"
         "# Broadcast: All processes get the full tensor\n"
         "set broadcasted [torch::distributed_broadcast $data 0]\n\n"
         "# Scatter: Each process gets a different chunk\n"
         "set scattered_chunk [torch::distributed_scatter $data 0]"),
    MD("## Scatter-gather\n\n"
       "Each rank works on its rows; `-mode cat` concatenates the uneven chunks back on rank 0, so rank 0 "
       "ends with the doubled 10x3 tensor and the other ranks with nothing."),
    CODE("%%torchtcl\n"
         "set local_chunk [torch::distributed_scatter $data 0]\n"
         "set processed_chunk [torch::tensor_mul $local_chunk 2.0]\n"
         "set final_result [torch::distributed_gather -tensor $processed_chunk -dst 0 -mode cat]\n"
         "torch::tensor_shape $final_result"),
    MD("## Scatter-allreduce\n\n"
       "Each rank sums the columns of its rows; an all-reduce adds the partial sums, so every rank ends with "
       "the column sums of the whole tensor."),
    CODE("%%torchtcl\n"
         "set local_data [torch::distributed_scatter $data 0]\n"
         "set local_sums [torch::tensor_sum $local_data 0]\n"
         "set column_sums [torch::distributed_all_reduce $local_sums sum]\n"
         "torch::tensor_to_list $column_sums"),
    MD("## From Python to every rank\n\n"
       "`-i` sends a Python tensor (or number, or list) to every rank as a Tcl variable holding a handle."),
    CODE("weights = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 2.0]])"),
    CODE("%%torchtcl -i weights\n"
         "set my_weights [torch::distributed_scatter $weights 0]\n"
         "torch::tensor_to_list $my_weights"),
    MD("## Part of the cluster\n\n"
       "`--ranks` runs a cell on some ranks only. A collective needs every member of its group, so a cell on "
       "ranks 0 and 2 refuses a scatter over the whole world at once, instead of waiting forever for ranks 1 "
       "and 3. The refusal is a Tcl error like any other: here `catch` shows it."),
    CODE("%%torchtcl --ranks 0,2\n"
         "if {[catch {torch::distributed_scatter $data 0} error]} {\n"
         "    puts \"refused: $error\"\n"
         "}"),
    MD("## Error handling\n\n"
       "Every mistake is a Tcl error that `catch` can handle, and the ranks keep working after it."),
    CODE("%%torchtcl\n"
         "# Handle invalid source ranks\n"
         "if {[catch {torch::distributed_scatter $data -1} error]} {\n"
         "    puts \"Error: $error\"\n"
         "}\n\n"
         "# Validate tensor handle\n"
         "if {[catch {torch::distributed_scatter \"invalid_tensor\" 0} error]} {\n"
         "    puts \"Error: $error\"\n"
         "}"),
    MD("An error that is not caught fails the cell on the ranks where it happened, with each rank's Tcl "
       "error and trace, as a Python cell that raises does: here rank 100 does not exist in a world of 4. "
       "(This cell is tagged `raises-exception`, so \"Run All\" goes on past it.)"),
    CODE("%%torchtcl\n"
         "set result [torch::distributed_scatter $data 100]", metadata={"tags": ["raises-exception"]}),
    MD("The ranks are still there, with their variables:"),
    CODE("%%torchtcl --no-table\ntorch::tensor_shape $data"),
    CODE("%torchtcl cluster stop"),
]


if __name__ == "__main__":
    build(CELLS, "01_scatter.ipynb")

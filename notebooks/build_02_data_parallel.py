"""Write notebooks/02_data_parallel.ipynb from the cells below and run it, saving its
outputs (see build.py):

    python notebooks/build_02_data_parallel.py
"""
from build import CODE, MD, build

# Cells that can take more than a second: their outputs are saved but not compared (the
# live "still running" view that a slow cell shows is cleared by Jupyter, not by nbval).
# What they compute is checked by the quick cells after them.
def SLOW(source):
    return CODE(source, metadata={"tags": ["nbval-ignore-output"]})


STEPS = 40

CELLS = [
    MD("# Data-parallel training, rank by rank\n\n"
       "Four CPU ranks train one small model together, the way `DistributedDataParallel` is used on GPUs: "
       "rank 0 makes a regression data set and scatters it, every rank trains the same model on its own shard, "
       "and each backward pass averages the gradients across the ranks, so the four copies of the model stay "
       "identical. At the end, the result is compared with training in one process on the whole data set.\n\n"
       "The training-loop procs are those of the `distributed_scatter` page "
       "([docs/distributed_scatter.md](../docs/distributed_scatter.md), \"Integration with Training Loops\"), "
       "run with the commands they name."),
    CODE("%load_ext tcl_magic\n%torchtcl cluster start -n 4 --backend gloo --timeout 30"),
    MD("## The data, made on rank 0 and scattered\n\n"
       "64 rows of 3 features and a target `y = 2 x1 - x2 + 0.5 x3 + 0.5`. Only rank 0's tensors matter to "
       "the scatter; the other ranks pass a placeholder. `distributed_data_loading` is the page's proc: each "
       "rank gets 16 rows. The table shows each rank's shard."),
    CODE("%%torchtcl\n"
         "proc distributed_data_loading {full_dataset} {\n"
         "    # Scatter dataset across workers\n"
         "    set local_data [torch::distributed_scatter $full_dataset 0]\n"
         "    return $local_data\n"
         "}\n\n"
         "torch::manual_seed 0\n"
         "if {[torch::get_rank] == 0} {\n"
         "    set x [torch::randn {64 3}]\n"
         "    set y [torch::tensor_add [torch::tensor_matmul $x [torch::tensor_create {2.0 -1.0 0.5} {3 1}]] 0.5]\n"
         "} else {\n"
         "    set x [torch::zeros {1 3}]\n"
         "    set y [torch::zeros {1 1}]\n"
         "}\n"
         "set local_x [distributed_data_loading $x]\n"
         "set local_y [distributed_data_loading $y]\n"
         "puts \"rank [torch::get_rank]: [lindex [torch::tensor_shape $local_x] 0] rows\""),
    MD("## One model, four copies\n\n"
       "Each rank seeds its generator differently, so the four models start with different weights."),
    CODE("%%torchtcl --no-table\n"
         "torch::manual_seed [expr {100 + [torch::get_rank]}]\n"
         "set model [torch::sequential [list [torch::linear 3 8] [torch::tanh] [torch::linear 8 1]]]\n"
         "proc first_weight {model} {\n"
         "    set w [lindex [torch::layer_parameters $model] 0]\n"
         "    format %.4f [lindex [torch::tensor_to_list $w] 0]\n"
         "}\n"
         "puts \"before: [first_weight $model]\""),
    MD("`torch::distributed_data_parallel` wraps the model with torch's own `DistributedDataParallel`, which "
       "copies rank 0's parameters to every rank. The first wrap in a rank process takes a few seconds: "
       "torch loads its compiler stack (`torch._dynamo`) on first use of DDP."),
    SLOW("%%torchtcl --no-table\nset ddp [torch::distributed_data_parallel $model]"),
    MD("Now the first weight is the same everywhere (output that is the same on several ranks is shown once, "
       "labelled with those ranks):"),
    CODE("%%torchtcl --no-table\nputs \"after:  [first_weight $model]\""),
    MD("## The training step\n\n"
       "`training_step` is the page's proc, with one change: the page reads `$targets` inside the proc, "
       "which a Tcl proc cannot see, so here the targets are its third argument. `torch::model_forward` and "
       "`torch::backward` are the names the page uses (synonyms of `layer_forward` and `tensor_backward`); "
       "`torch::loss_function` is ours to define. The backward pass is where the ranks meet: DDP averages "
       "the gradients of the 4 shards."),
    SLOW("%%torchtcl --no-table\n"
         "proc torch::loss_function {outputs targets} {torch::mse_loss $outputs $targets}\n\n"
         "proc training_step {model local_batch targets} {\n"
         "    # Each worker processes their data chunk\n"
         "    set outputs [torch::model_forward $model $local_batch]\n"
         "    set loss [torch::loss_function $outputs $targets]\n\n"
         "    # Backward pass on local data\n"
         "    torch::backward $loss\n\n"
         "    return $loss\n"
         "}\n\n"
         "set opt [torch::optimizer_sgd [torch::layer_parameters $ddp] 0.1]\n"
         "set losses {}\n"
         f"for {{set step 0}} {{$step < {STEPS}}} {{incr step}} {{\n"
         "    torch::optimizer_zero_grad $opt\n"
         "    set loss [training_step $ddp $local_x $local_y]\n"
         "    torch::optimizer_step $opt\n"
         "    lappend losses [torch::tensor_item $loss]\n"
         "}"),
    MD("## The loss, per rank\n\n"
       "`-o losses` brings each rank's list back to Python. Each rank's loss is measured on its own 16 rows, "
       "so the four curves differ, but they fall together: one model is being trained."),
    CODE("%%torchtcl -o losses --no-table\nformat \"%d steps, loss %.3f -> %.3f\" [llength $losses] [lindex $losses 0] "
         "[lindex $losses end]"),
    CODE("import matplotlib.pyplot as plt\n\n"
         "fig, ax = plt.subplots(figsize=(6, 3.5))\n"
         "for rank, text in enumerate(losses):\n"
         "    ax.plot([float(v) for v in text.split()], label=f\"rank {rank}\")\n"
         "ax.set(xlabel=\"step\", ylabel=\"MSE on the rank's shard\", yscale=\"log\", "
         "title=\"Data-parallel training on 4 ranks\")\n"
         "ax.legend()\n"
         "plt.show()"),
    MD("## The same parameters on every rank\n\n"
       "After 40 steps the four copies are still identical: every rank prints the same values, so they are "
       "shown once. An all-reduce of each parameter's `max` and `min` across the ranks says the same for every "
       "value, exactly."),
    CODE("%%torchtcl --no-table\n"
         "set same 1\n"
         "foreach p [torch::layer_parameters $ddp] {\n"
         "    set hi [torch::distributed_all_reduce $p max]\n"
         "    set lo [torch::distributed_all_reduce $p min]\n"
         "    if {![torch::tensor_allclose $hi $lo 0 0]} {set same 0}\n"
         "}\n"
         "set bias [lindex [torch::layer_parameters $ddp] end]\n"
         "puts \"output bias: [format %.4f [torch::tensor_item $bias]]\"\n"
         "puts \"identical on every rank: $same\""),
    MD("## Compared with one process on the whole data set\n\n"
       "Rank 0 holds the whole data set. On rank 0 alone (`--ranks 0`, no collective), a fresh copy of the "
       "model starts from the same weights (seed 100, rank 0's) and trains on all 64 rows with the same "
       "optimizer, without DDP.\n\n"
       "Why they should agree: the loss is a mean, the 4 shards have the same size (16 rows), and DDP "
       "averages the 4 shards' gradients; the average of 4 means of 16 is the mean of 64. The gradients are "
       "therefore the same numbers, summed in a different order, so they agree up to float32 rounding, "
       "which the tolerance below (relative 1e-4, absolute 1e-5) allows for 40 steps. With shards of unequal "
       "size they would not: DDP weighs every rank equally."),
    CODE("%%torchtcl --ranks 0 --no-table\n"
         "torch::manual_seed 100\n"
         "set single [torch::sequential [list [torch::linear 3 8] [torch::tanh] [torch::linear 8 1]]]\n"
         "set single_opt [torch::optimizer_sgd [torch::layer_parameters $single] 0.1]\n"
         f"for {{set step 0}} {{$step < {STEPS}}} {{incr step}} {{\n"
         "    torch::optimizer_zero_grad $single_opt\n"
         "    torch::backward [torch::mse_loss [torch::layer_forward $single $x] $y]\n"
         "    torch::optimizer_step $single_opt\n"
         "}\n"
         "set agree 1\n"
         "foreach p [torch::layer_parameters $ddp] q [torch::layer_parameters $single] {\n"
         "    if {![torch::tensor_allclose $p $q 1e-4 1e-5]} {set agree 0}\n"
         "}\n"
         "puts \"data-parallel and single-process parameters agree: $agree\""),
    CODE("%torchtcl cluster stop"),
]

if __name__ == "__main__":
    build(CELLS, "02_data_parallel.ipynb")

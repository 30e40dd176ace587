# Train one small model on N ranks with DistributedDataParallel: rank 0 makes the data
# and scatters it, every rank trains on its shard, and each backward pass averages the
# gradients, so every rank ends with the same parameters. With one rank (no -n), the
# same script trains in one process: distributed_data_parallel returns the model itself.
#
#   torchtcl run examples/data_parallel.tcl -n 4

set rank [torch::get_rank]

# y = 2 x1 - x2 + 0.5 x3 + 0.5, 64 rows; only rank 0's tensors matter to the scatter
torch::manual_seed 0
set x [torch::randn {64 3}]
set y [torch::tensor_add [torch::tensor_matmul $x [torch::tensor_create {2.0 -1.0 0.5} {3 1}]] 0.5]
set local_x [torch::distributed_scatter $x 0]
set local_y [torch::distributed_scatter $y 0]

torch::manual_seed 1
set model [torch::sequential [list [torch::linear 3 8] [torch::tanh] [torch::linear 8 1]]]
set ddp [torch::distributed_data_parallel $model]
set opt [torch::optimizer_sgd [torch::layer_parameters $ddp] 0.1]

for {set step 1} {$step <= 40} {incr step} {
    torch::optimizer_zero_grad $opt
    set loss [torch::mse_loss [torch::layer_forward $ddp $local_x] $local_y]
    torch::tensor_backward $loss
    torch::optimizer_step $opt
    if {$step % 20 == 0} {puts "step $step: loss on my [lindex [torch::tensor_shape $local_x] 0] rows [format %.4f [torch::tensor_item $loss]]"}
}

# the same parameters everywhere: the largest and smallest value of each across the ranks agree
set same 1
foreach p [torch::layer_parameters $ddp] {
    if {![torch::tensor_allclose [torch::distributed_all_reduce $p max] [torch::distributed_all_reduce $p min] 0 0]} {
        set same 0
    }
}
puts "parameters identical on every rank: $same"

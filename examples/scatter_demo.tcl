# Scatter a 10x3 tensor from rank 0 to every rank, show what each rank received,
# then check that gathering the chunks back gives the original tensor.
#
#   torchtcl run examples/scatter_demo.tcl -n 4

set rank  [torch::get_rank]
set world [torch::get_world_size]

# Only rank 0's data matters: the other ranks learn the shape and dtype from it.
set data  [torch::tensor_reshape [torch::arange -end 30 -dtype float32] {10 3}]
set chunk [torch::distributed_scatter $data 0]

set rows [lindex [torch::tensor_shape $chunk] 0]
puts "rank $rank of $world received $rows rows: [torch::tensor_to_list $chunk]"

# Uneven chunks concatenate back on rank 0; every other rank gets an empty tensor.
set back [torch::distributed_gather -tensor $chunk -dst 0 -mode cat]
if {$rank == 0} {
    set same [expr {[torch::tensor_to_list $back] eq [torch::tensor_to_list $data]}]
    puts "gathered back on rank 0: shape [torch::tensor_shape $back], identical to the source: $same"
}

# Every rank sums its chunk; all_reduce adds the partial sums on every rank.
set total [torch::distributed_all_reduce [torch::tensor_sum $chunk 0] sum]
puts "column sums: [torch::tensor_to_list $total]"

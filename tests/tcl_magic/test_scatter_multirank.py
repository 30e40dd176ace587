"""torch::distributed_scatter on real gloo clusters of 2, 3 and 4 ranks, checked on every rank."""
import pytest
import torch

from ranks import fresh, on_all, tcl_list, values

WORLDS = [2, 3, 4]


@pytest.fixture(params=WORLDS, ids=lambda n: f"{n}ranks")
def cluster(request, cluster_of):
    c = cluster_of(request.param)
    fresh(c)
    return c


def expected_chunks(source: torch.Tensor, parts: int) -> list[torch.Tensor]:
    return list(source.tensor_split(parts))


@pytest.mark.parametrize("rows", [8, 5, 2, 1], ids=lambda r: f"{r}rows")
def test_every_rank_gets_its_tensor_split_chunk(cluster, rows):
    source = torch.arange(rows * 3, dtype=torch.float32).reshape(rows, 3)
    got = values(cluster, f"set t [torch::tensor_create -data {{{tcl_list(source)}}} -shape {{{rows} 3}}]\n"
                          "set c [torch::distributed_scatter $t]\n"
                          'return "[torch::tensor_shape $c]|[torch::tensor_to_list $c]"')
    chunks = expected_chunks(source, cluster.world_size)
    assert got == [f"{chunk.shape[0]} 3|{tcl_list(chunk)}" for chunk in chunks]


def test_shape_and_dtype_come_from_a_nonzero_source(cluster):
    n = cluster.world_size
    src = n - 1
    got = values(cluster, f"""
        if {{[torch::get_rank] == {src}}} {{
            set t [torch::arange 0 {n * 4}]
            set t [torch::tensor_reshape $t {{{n * 2} 2}}]
        }} else {{
            set t [torch::ones {{1}} float32]   ;# any valid tensor: ignored
        }}
        set c [torch::distributedScatter -tensor $t -src {src}]
        list [torch::tensor_dtype $c] [torch::tensor_to_list $c]""")
    source = torch.arange(n * 4).reshape(n * 2, 2)
    for rank, chunk in enumerate(expected_chunks(source, n)):
        assert got[rank] == f"Int64 {{{tcl_list(chunk)}}}"


def test_a_named_group_scatters_among_its_members_only(cluster):
    n = cluster.world_size
    members = list(range(1, n))
    got = values(cluster, f"""
        torch::distributed_new_group workers {{{' '.join(map(str, members))}}}
        set t [torch::tensor_create -data {{10 20 30 40 50}} -shape {{5}}]
        set c [torch::distributed_scatter $t 1 workers]
        torch::tensor_to_list $c""")
    chunks = torch.tensor([10., 20, 30, 40, 50]).tensor_split(len(members))
    assert got[0] == ""  # rank 0 is not a member: an empty chunk, no hang
    for index, rank in enumerate(members):
        assert got[rank] == tcl_list(chunks[index])


def test_a_source_outside_the_world_or_group_is_an_error_everywhere(cluster):
    n = cluster.world_size
    results = on_all(cluster, "set t [torch::ones {4 2}]; torch::distributed_scatter $t 100")
    for r in results:
        assert r.error.message == f"invalid src parameter: rank 100 is not in the world (ranks {_ranks(n)})"
    results = on_all(cluster, "torch::distributed_new_group solo {0}; torch::distributed_scatter $t 1 solo")
    for r in results:
        assert r.error.message == 'invalid src parameter: rank 1 is not in group "solo" (ranks 0)'
    results = on_all(cluster, "torch::distributed_scatter $t 0 nosuch")
    for r in results:
        assert r.error.message.startswith('Unknown process group "nosuch". Existing groups: "" "solo"')
    # the cluster and every session keep working
    assert values(cluster, "torch::tensor_shape [torch::distributed_scatter $t 0]") == \
        [" ".join(map(str, c.shape)) for c in torch.ones(4, 2).tensor_split(n)]


def test_a_mistake_on_one_rank_fails_fast_on_every_rank(cluster):
    n = cluster.world_size
    results = on_all(cluster, """
        set t [torch::ones {4}]
        if {[torch::get_rank] == 1} {set h nosuch} else {set h $t}
        torch::distributed_scatter $h 0""")
    assert results[1].error.message == "Invalid tensor handle: nosuch (Invalid tensor name for tensor: Tensor not found)"
    for r in results[:1] + results[2:]:
        assert r.error.message == f"not run: rank 1 of the world (ranks {_ranks(n)}) reported an error " \
                                  "for this call (see that rank's output)"
    assert values(cluster, "torch::tensor_numel [torch::distributed_scatter $t 0]") == \
        [str(c.numel()) for c in torch.ones(4).tensor_split(n)]


def test_ranks_that_name_different_sources_get_an_error_not_a_hang(cluster):
    results = on_all(cluster, "torch::distributed_scatter [torch::ones {4}] [torch::get_rank]")
    for r in results:
        assert "are not making the same call (rank 0: scatter src=0, rank 1: scatter src=1" in r.error.message


def test_ranks_that_gather_in_different_modes_get_an_error_not_a_hang(cluster):
    # stacking and concatenating move data differently (gloo's gather, or transfers): another call
    results = on_all(cluster, "torch::distributed_gather [torch::ones {2}] 0 "
                              "-mode [expr {[torch::get_rank] == 1 ? {cat} : {stack}}]")
    for r in results:
        assert r.group_broken is None
        assert "are not making the same call (rank 0: gather dst=0, rank 1: gather -mode cat dst=0" \
            in r.error.message, r.error
    assert values(cluster, "torch::tensor_shape [torch::distributed_gather [torch::ones {2}] 0 -mode cat]")[0] \
        == str(2 * cluster.world_size)


def test_a_zero_dimensional_source_is_refused_on_every_rank(cluster):
    results = on_all(cluster, "torch::distributed_scatter [torch::tensor_create 5 {}] 0")
    assert results[0].error.message == (f"a 0-dimensional tensor cannot be split across the "
                                        f"{cluster.world_size} ranks of the group: give it at least one dimension")
    assert all(r.error.message.startswith("not run: rank 0") for r in results[1:])


def test_scatter_then_gather_cat_gives_back_the_original(cluster):
    got = values(cluster, """
        set t [torch::tensor_reshape [torch::arange -end 21 -dtype float64] {7 3}]
        set c [torch::distributed_scatter $t 0]
        set back [torch::distributed_gather -tensor $c -dst 0 -mode cat]
        list [torch::tensor_shape $back] [torch::tensor_to_list $back]""")
    assert got[0] == "{7 3} {" + tcl_list(torch.arange(21, dtype=torch.float64)) + "}"
    assert all(g == "{0 3} {}" for g in got[1:])


def test_scatter_then_all_reduce_sums_the_chunks(cluster):
    n = cluster.world_size
    got = values(cluster, f"""
        set t [torch::tensor_reshape [torch::arange -end {n * 2} -dtype float32] {{{n} 2}}]
        set c [torch::distributed_scatter $t 0]
        torch::tensor_to_list [torch::distributed_all_reduce [torch::tensor_mul $c 2.0] sum]""")
    total = (torch.arange(n * 2, dtype=torch.float32).reshape(n, 2) * 2).sum(0)
    assert got == [tcl_list(total)] * n


def _ranks(n: int) -> str:
    return "0,1" if n == 2 else f"0-{n - 1}"


def test_a_cell_on_part_of_the_cluster_refuses_what_would_hang(cluster_of):
    from tcl_magic import remote
    cluster = cluster_of(3)
    fresh(cluster)
    values(cluster, "torch::distributed_new_group pair {0 1}; set t [torch::arange 6]")
    subset = cluster.run(remote.run_tcl, "torch::distributed_scatter $t 0", None, None, [0, 1], on_ranks=[0, 1])
    for r in subset:
        assert r.error.message == ("the world (ranks 0-2) holds rank 2, which is not running this cell (it runs on "
                                   "ranks 0,1): the collective would wait for it forever. Run the cell on every "
                                   "rank of the group, or use a group of running ranks")
    subset = cluster.run(remote.run_tcl, "torch::distributed_new_group more {0 1}", None, None, [0, 1],
                         on_ranks=[0, 1])
    assert all("collective over the whole world" in r.error.message for r in subset)
    subset = cluster.run(remote.run_tcl, "torch::tensor_to_list [torch::distributed_scatter $t 0 pair]",
                         None, None, [0, 1], on_ranks=[0, 1])
    assert [r.result for r in subset] == ["0 1 2", "3 4 5"]
    assert values(cluster, "torch::tensor_numel [torch::distributed_scatter $t 0]") == ["2", "2", "2"]

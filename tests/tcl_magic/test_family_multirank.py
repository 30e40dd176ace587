"""The whole torch::distributed_* family on real gloo clusters of 2, 3 and 4 ranks.

Every rank builds a tensor from its own rank number, so each rank's result can be
computed here and compared on every rank.
"""
import pytest
import torch

from ranks import fresh, on_all, tcl_list, values


@pytest.fixture(params=[2, 3, 4], ids=lambda n: f"{n}ranks")
def cluster(request, cluster_of):
    c = cluster_of(request.param)
    fresh(c)
    return c


def rank_tensor(rank: int, rows: int = 5, cols: int = 2) -> torch.Tensor:
    """The tensor `mine` every rank builds in MINE."""
    return torch.arange(rows * cols, dtype=torch.float32).reshape(rows, cols) + 100 * rank


MINE = "set r [torch::get_rank]\nset mine [torch::tensor_add [torch::tensor_reshape [torch::arange -end 10 " \
       "-dtype float32] {5 2}] [expr {100 * $r}]]\n"


def listing(var: str) -> str:
    return f'return "[torch::tensor_shape ${var}]|[torch::tensor_dtype ${var}]|[torch::tensor_to_list ${var}]"'


def expect(t: torch.Tensor, dtype: str = "Float32") -> str:
    return f"{' '.join(map(str, t.shape))}|{dtype}|{tcl_list(t)}"


def test_broadcast_from_a_nonzero_root_takes_shape_and_dtype_from_it(cluster):
    root = cluster.world_size - 1
    got = values(cluster, f"""
        if {{[torch::get_rank] == {root}}} {{set t [torch::tensor_create {{{{1 2 3}} {{4 5 6}}}} int32]}} \\
        else {{set t [torch::ones {{7}}]}}
        set b [torch::distributed_broadcast -tensor $t -root {root}]
        {listing('b')}""")
    assert got == ["2 3|Int32|1 2 3 4 5 6"] * cluster.world_size


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_all_reduce_every_operation(cluster, op):
    n = cluster.world_size
    got = values(cluster, MINE + f"set a [torch::distributedAllReduce $mine {op}]\n" + listing("a"))
    stacked = torch.stack([rank_tensor(r) for r in range(n)])
    reduced = {"sum": stacked.sum(0), "mean": stacked.sum(0) / n, "max": stacked.max(0).values,
               "min": stacked.min(0).values}[op]
    assert got == [expect(reduced)] * n


@pytest.mark.parametrize("rows", [8, 5, 2], ids=lambda r: f"{r}rows")
@pytest.mark.parametrize("op", ["sum", "product", "mean"])
def test_reduce_scatter_gives_each_rank_its_chunk_of_the_reduction(cluster, rows, op):
    n = cluster.world_size
    got = values(cluster, f"""
        set x [torch::tensor_add [torch::arange -end {rows} -dtype float64] [expr {{[torch::get_rank] + 1}}]]
        set c [torch::distributed_reduce_scatter -tensor $x -op {op}]
        {listing('c')}""")
    stacked = torch.stack([torch.arange(rows, dtype=torch.float64) + r + 1 for r in range(n)])
    reduced = {"sum": stacked.sum(0), "product": stacked.prod(0), "mean": stacked.sum(0) / n}[op]
    assert got == [expect(chunk, "Float64") for chunk in reduced.tensor_split(n)]


def test_all_to_all_with_uneven_rows_per_rank(cluster):
    n = cluster.world_size
    # rank r holds r + n rows: chunk j of every rank goes to rank j
    got = values(cluster, f"""
        set r [torch::get_rank]
        set x [torch::tensor_add [torch::arange -end [expr {{$r + {n}}}] -dtype int64] [expr {{100 * $r}}]]
        set y [torch::distributed_all_to_all $x]
        {listing('y')}""")
    sent = [torch.arange(r + n) + 100 * r for r in range(n)]
    for j in range(n):
        received = torch.cat([s.tensor_split(n)[j] for s in sent])
        assert got[j] == expect(received, "Int64")


def test_gather_stacks_on_a_nonzero_dst_and_cat_rebuilds_uneven_chunks(cluster):
    n = cluster.world_size
    dst = n - 1
    got = values(cluster, MINE + f"set g [torch::distributed_gather $mine {dst}]\n" + listing("g"))
    for rank in range(n):
        assert got[rank] == (expect(torch.stack([rank_tensor(r) for r in range(n)])) if rank == dst
                             else "0 5 2|Float32|")
    got = values(cluster, """
        set src [torch::tensor_reshape [torch::arange -end 14 -dtype float32] {7 2}]
        set c [torch::distributed_scatter $src 0]
        set back [torch::distributed_gather -tensor $c -dst 1 -mode cat]
        """ + listing("back"))
    assert got[1] == expect(torch.arange(14, dtype=torch.float32).reshape(7, 2))


def test_collectives_in_a_named_group_and_outside_it(cluster):
    n = cluster.world_size
    members = list(range(1, n))
    got = values(cluster, MINE + f"""
        torch::distributed_new_group tail {{{' '.join(map(str, members))}}}
        set s [torch::distributed_all_reduce $mine sum tail]
        set b [torch::distributed_broadcast $mine {members[-1]} tail]
        return "[torch::tensor_to_list $s]|[torch::tensor_to_list $b]"
        """)
    total = sum(rank_tensor(r) for r in members)
    assert got[0] == "|"  # rank 0 is outside the group: empty results, no hang
    for r in members:
        assert got[r] == f"{tcl_list(total)}|{tcl_list(rank_tensor(members[-1]))}"


def test_barrier_names_the_ranks_it_synchronised(cluster):
    n = cluster.world_size
    assert values(cluster, "torch::distributed_barrier") == [f"Barrier synchronized: {n} ranks"] * n
    assert values(cluster, "torch::distributed_new_group g {0 1}; torch::distributedBarrier -group g") == \
        ['Barrier synchronized: 2 ranks of group "g"'] * 2 + [f'Barrier skipped: rank {r} is not in group "g"'
                                                              for r in range(2, n)]


def test_mismatched_shapes_are_an_error_on_every_rank(cluster):
    n = cluster.world_size
    results = on_all(cluster, "torch::distributed_all_reduce [torch::ones [list [expr {[torch::get_rank]+1}]]]")
    listed = ", ".join(f"rank {r}: [{r + 1}] float32" for r in range(n))
    assert [r.error.message for r in results] == [f"cannot reduce tensors of different shapes or dtypes ({listed})"] * n


def test_send_and_recv_with_tags_that_really_match(cluster):
    n = cluster.world_size
    # rank 0 sends two messages to the last rank, which receives them in the other order
    # (a blocking send waits for its receive, so the first one is started with isend)
    got = values(cluster, f"""
        set last {n - 1}
        if {{[torch::get_rank] == 0}} {{
            set first [torch::distributed_isend [torch::full {{2}} 1.0] $last 1]
            torch::distributed_send -tensor [torch::full {{3}} 2.0] -dst $last -tag 2
            torch::distributed_wait $first
            return sent
        }} elseif {{[torch::get_rank] == $last}} {{
            set b [torch::distributed_recv {{3}} 0 2]
            set a [torch::distributed_recv -shape {{2}} -src 0 -tag 1 -dtype float32]
            return "[torch::tensor_to_list $a]|[torch::tensor_to_list $b]"
        }}
        return idle""")
    assert got[0] == "sent" and got[-1] == "1.0 1.0|2.0 2.0 2.0"
    assert got[1:-1] == ["idle"] * (n - 2)


def test_ring_exchange_with_isend_irecv_wait_and_test(cluster):
    n = cluster.world_size
    got = values(cluster, """
        set r [torch::get_rank]; set w [torch::get_world_size]
        set right [expr {($r + 1) % $w}]; set left [expr {($r - 1 + $w) % $w}]
        set out [torch::distributed_isend [torch::full {2} $r int64] $right 5]
        set in [torch::distributedIrecv -shape {2} -src $left -tag 5 -dtype int64]
        set got [torch::distributed_wait $in]
        set sent [torch::distributed_wait -handle $out]
        set again [torch::tensor_to_list [torch::distributed_wait $in]]
        return "[string match isend_handle_dst${right}_tag5_* $out] [string match irecv_handle_src${left}_tag5_* $in]|$sent|[torch::tensor_to_list $got]|[torch::distributed_test $out] [torch::distributed_test $in] $again"
        """)
    # a completed work handle stays valid: test answers true, a second wait returns at once
    assert got == [f"1 1|send_completed|{(r - 1) % n} {(r - 1) % n}|true true {(r - 1) % n} {(r - 1) % n}"
                   for r in range(n)]


def test_distributed_test_reports_completion_without_blocking(cluster):
    got = values(cluster, """
        if {[torch::get_rank] == 1} {
            set h [torch::distributed_irecv {1} 0 9]
            set before [torch::distributed_test $h]
            torch::distributed_barrier
            set t [torch::distributed_wait $h]
            return "$before [torch::tensor_to_list $t]"
        }
        torch::distributed_barrier
        if {[torch::get_rank] == 0} {
            set s [torch::distributed_isend [torch::ones {1}] 1 9]
            while {![torch::distributed_test $s]} {after 5}
            return "[torch::distributed_test $s] [torch::distributed_wait $s]"
        }
        return idle""")
    assert got[0] == "true send_completed"
    assert got[1] == "false 1.0"


def test_transfers_that_cannot_complete_are_refused(cluster):
    n = cluster.world_size
    results = on_all(cluster, "torch::distributed_send [torch::ones {1}] [torch::get_rank]")
    assert [r.error.message for r in results] == [
        f"invalid dst parameter: rank {r} is this rank, and a transfer to oneself would never complete"
        for r in range(n)]
    results = on_all(cluster, f"torch::distributed_recv {{1}} {n}")
    assert all(r.error.message == f"invalid src parameter: rank {n} is not in the world (ranks "
               f"{'0,1' if n == 2 else f'0-{n - 1}'})" for r in results)
    assert all(r.error.message == "Invalid work handle: nope" for r in on_all(cluster, "torch::distributed_wait nope"))
    results = on_all(cluster, "torch::distributed_isend [torch::ones {1}] [expr {([torch::get_rank] + 1) % "
                              "[torch::get_world_size]}] -1")
    assert {r.error.message for r in results} == {'Invalid tag parameter. Must be an integer from 0 to 1073741823. Got: "-1"'}


def test_init_inside_a_cluster_reports_the_group_and_refuses_contradictions(cluster):
    n = cluster.world_size
    got = values(cluster, f"torch::distributed_init [torch::get_rank] {n} 127.0.0.1")
    assert got == [f"Distributed training initialized (by the cluster): rank={r}, world_size={n}, backend=gloo"
                   for r in range(n)]
    results = on_all(cluster, f"torch::distributed_init -rank 0 -worldSize {n + 1} -masterAddr localhost")
    assert results[0].error.message == (f"this process is already rank 0 of a world of {n} (gloo); "
                                         f"torch::distributed_init asked for rank=0, world_size={n + 1}")
    assert "-backend gloo" not in results[0].error.message
    assert values(cluster, "torch::is_distributed") == ["1"] * n
    assert "the cluster owns this process group" in on_all(cluster, "torch::distributed_destroy")[0].error.message


def test_groups_can_be_destroyed_and_created_again(cluster):
    n = cluster.world_size
    got = values(cluster, """
        torch::distributed_new_group g {0 1}
        catch {torch::distributed_new_group g {0}} err1
        torch::distributed_destroy_group g
        catch {torch::distributed_scatter [torch::ones {2}] 0 g} err2
        torch::distributed_new_group g {1 0}
        set c [torch::distributed_scatter [torch::arange 2] 1 g]
        return "$err1|$err2|[torch::tensor_to_list $c]"
        """)
    err1 = 'Process group "g" already exists: choose another name or destroy it first with ' \
           'torch::distributed_destroy_group'
    err2 = 'Unknown process group "g". Existing groups: "" (create one with torch::distributed_new_group)'
    assert got[:2] == [f"{err1}|{err2}|0", f"{err1}|{err2}|1"]
    assert got[2:] == [f"{err1}|{err2}|"] * (n - 2)


def test_a_receive_of_the_wrong_shape_fails_on_both_sides_before_any_data_moves(cluster):
    got = values(cluster, """
        set r [torch::get_rank]
        if {$r == 0} {
            catch {torch::distributed_send [torch::ones {4}] 1 3} e1
            set h [torch::distributed_isend [torch::ones {2 2} int32] 1 4]
            catch {torch::distributed_wait $h} e2
            torch::distributed_send [torch::full {2} 7.0] 1 5
            return "$e1|$e2|sent"
        } elseif {$r == 1} {
            catch {torch::distributed_recv {3} 0 3} e1
            set h [torch::distributed_irecv {2 2} 0 4]
            catch {torch::distributed_wait $h} e2
            set ok [torch::distributed_recv {2} 0 5]
            return "$e1|$e2|[torch::tensor_to_list $ok]"
        }
        return idle""")
    errors = ("rank 0 sent a tensor of shape {4} float32 with tag 3, but rank 1's receive asked for {3} float32: "
              "nothing was sent; receive with the sender's shape and dtype|"
              "rank 0 sent a tensor of shape {2 2} int32 with tag 4, but rank 1's receive asked for {2 2} float32: "
              "nothing was sent; receive with the sender's shape and dtype|")
    assert got[:2] == [errors + "sent", errors + "7.0 7.0"]


def test_an_unmatched_receive_is_named_at_once_on_both_sides_and_the_group_stays_healthy(cluster):
    results = on_all(cluster, """
        if {[torch::get_rank] == 1} {torch::distributed_recv {4} 0}
        if {[torch::get_rank] == 0} {after 200}
        return done""")
    assert results[1].error.message == "not run: rank 0 finished the cell without calling distributed_send"
    assert [r.result for r in results if r.rank != 1] == ["done"] * (cluster.world_size - 1)
    assert values(cluster, "torch::tensor_to_list [torch::distributed_all_reduce [torch::ones {1}] sum]") == \
        [f"{float(cluster.world_size)}"] * cluster.world_size


def test_receives_from_one_source_and_tag_pair_up_with_messages_in_order(cluster):
    got = values(cluster, """
        set r [torch::get_rank]
        if {$r == 0} {
            foreach i {1 2 3} {lappend hs [torch::distributed_isend [torch::full [list $i] $i] 1 0]}
            foreach h $hs {torch::distributed_wait $h}
            return sent
        } elseif {$r == 1} {
            set a [torch::distributed_irecv {1} 0 0]
            set b [torch::distributed_irecv {2} 0 0]
            set c [torch::distributed_recv {3} 0 0]
            return "[torch::tensor_to_list [torch::distributed_wait $a]]|[torch::tensor_to_list [torch::distributed_wait $b]]|[torch::tensor_to_list $c]"
        }
        return idle""")
    assert got[:2] == ["sent", "1.0|2.0 2.0|3.0 3.0 3.0"]


def test_a_rank_dependent_bad_root_fails_fast_on_every_rank(cluster):
    """The last rank names a root outside the world; the others must not wait for it."""
    n = cluster.world_size
    results = on_all(cluster, "torch::distributed_broadcast [torch::ones {2}] "
                              "[expr {[torch::get_rank] == [torch::get_world_size] - 1 ? 99 : 0}]")
    assert results[-1].error.message == f"invalid root parameter: rank 99 is not in the world (ranks " \
                                        f"{'0,1' if n == 2 else f'0-{n - 1}'})"
    assert [r.error.message for r in results[:-1]] == [
        f"not run: rank {n - 1} of the world (ranks {'0,1' if n == 2 else f'0-{n - 1}'}) reported an error "
        "for this call (see that rank's output)"] * (n - 1)
    assert values(cluster, "torch::distributed_barrier") == [f"Barrier synchronized: {n} ranks"] * n


def test_ranks_creating_different_groups_fail_at_once_and_the_world_goes_on(cluster):
    n = cluster.world_size
    results = on_all(cluster, "torch::distributed_new_group g [expr {[torch::get_rank] == 0 ? {0 1} : {0}}]")
    others = "ranks 1,2 passed B" if n == 3 else "ranks 1-3 passed B" if n == 4 else "rank 1 passed B"
    assert {r.error.message for r in results} == {
        f"the ranks called torch::distributed_new_group with different names or ranks (rank 0 passed A, {others}): "
        "every rank must create the same group, with the same name and ranks"}
    results = on_all(cluster, "torch::distributed_new_group h [expr {[torch::get_rank] == 1 ? {0 9} : {0 1}}]")
    assert results[1].error.message == f"Rank 9 is outside the world (ranks {'0,1' if n == 2 else f'0-{n - 1}'})"
    assert all(r.error.message.startswith("not run: rank 1 of the world") for i, r in enumerate(results) if i != 1)
    assert values(cluster, "torch::distributed_new_group g {0 1}; torch::distributed_barrier g")[:2] == \
        ['Barrier synchronized: 2 ranks of group "g"'] * 2

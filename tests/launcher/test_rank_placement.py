"""Rank placement rules, for single- and multi-host layouts (pure, no processes)."""

import pytest

from launcher import EngineFacts, LaunchError, RankPlacement, place_ranks


def facts(*layout):
    """layout: (engine_id, host[, gpus]) tuples."""
    return [EngineFacts(*entry) for entry in layout]


def summary(placements):
    return [(p.engine_id, p.rank, p.local_rank, p.local_world_size, p.host, p.device)
            for p in placements]


def test_one_host_four_engines():
    placements = place_ranks(facts((0, "a"), (1, "a"), (2, "a"), (3, "a")), "gloo")
    assert placements[0] == RankPlacement(
        engine_id=0, rank=0, local_rank=0, local_world_size=4, world_size=4,
        host="a", device="cpu", address="127.0.0.1",
    )
    assert summary(placements) == [(i, i, i, 4, "a", "cpu") for i in range(4)]
    assert {p.address for p in placements} == {"127.0.0.1"}


def test_engine_ids_out_of_order_are_sorted():
    placements = place_ranks(facts((3, "a"), (1, "a"), (2, "a")), "gloo")
    assert [p.engine_id for p in placements] == [1, 2, 3]
    assert [p.rank for p in placements] == [0, 1, 2]


def test_two_hosts_interleaved_engine_ids_make_contiguous_ranks_per_host():
    placements = place_ranks(facts((0, "a"), (1, "b"), (2, "a"), (3, "b")), "gloo")
    assert summary(placements) == [
        (0, 0, 0, 2, "a", "cpu"),
        (2, 1, 1, 2, "a", "cpu"),
        (1, 2, 0, 2, "b", "cpu"),
        (3, 3, 1, 2, "b", "cpu"),
    ]
    assert {p.world_size for p in placements} == {4}


def test_hosts_ordered_by_lowest_engine_id():
    placements = place_ranks(facts((5, "b"), (1, "a"), (0, "b")), "gloo")
    assert [(p.engine_id, p.host) for p in placements] == [(0, "b"), (5, "b"), (1, "a")]


def test_uneven_hosts():
    placements = place_ranks(facts((0, "a"), (1, "b"), (2, "b"), (3, "b")), "gloo")
    assert summary(placements) == [
        (0, 0, 0, 1, "a", "cpu"),
        (1, 1, 0, 3, "b", "cpu"),
        (2, 2, 1, 3, "b", "cpu"),
        (3, 3, 2, 3, "b", "cpu"),
    ]


def test_nccl_gives_each_local_rank_its_gpu():
    layout = facts((0, "a", 2), (1, "b", 4), (2, "a", 2), (3, "b", 4), (4, "b", 4))
    placements = place_ranks(layout, "nccl")
    assert [(p.host, p.device) for p in placements] == [
        ("a", "cuda:0"), ("a", "cuda:1"), ("b", "cuda:0"), ("b", "cuda:1"), ("b", "cuda:2"),
    ]


def test_nccl_with_too_few_gpus_names_host_and_counts():
    layout = facts((0, "a", 4), (1, "b", 1), (2, "b", 1))
    with pytest.raises(LaunchError) as err:
        place_ranks(layout, "nccl")
    assert str(err.value) == (
        "host 'b' runs 2 engines but has only 1 CUDA GPU(s); NCCL needs one GPU per "
        "rank: start fewer ranks on that host or use backend='gloo'."
    )


def test_gloo_ignores_gpu_counts():
    placements = place_ranks(facts((0, "a", 0), (1, "a", 0)), "gloo")
    assert [p.device for p in placements] == ["cpu", "cpu"]


def test_empty_input_is_an_error():
    with pytest.raises(LaunchError, match="no engines to place ranks on"):
        place_ranks([], "gloo")


def test_duplicate_engine_ids_are_an_error():
    with pytest.raises(LaunchError, match=r"engine ids \[1\] are reported more than once"):
        place_ranks(facts((1, "a"), (1, "b")), "gloo")


def test_backend_must_be_resolved():
    with pytest.raises(LaunchError, match="cannot place ranks for backend='auto'"):
        place_ranks(facts((0, "a")), "auto")


def test_placement_module_imports_neither_torch_nor_ipyparallel():
    import ast
    import launcher.placement

    tree = ast.parse(open(launcher.placement.__file__).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"torch", "ipyparallel"}


def test_each_host_listens_on_the_address_its_first_engine_reported():
    layout = [EngineFacts(0, "a", address="10.0.0.1"), EngineFacts(1, "b", address="10.0.0.2"),
              EngineFacts(2, "a", address="10.0.0.1"), EngineFacts(3, "b", address="10.0.0.2")]
    assert [(p.host, p.address) for p in place_ranks(layout, "gloo")] == [
        ("a", "10.0.0.1"), ("a", "10.0.0.1"), ("b", "10.0.0.2"), ("b", "10.0.0.2")]


def test_the_launchers_rank_orders_the_engines_when_every_engine_has_one():
    # srun's SLURM_PROCID / mpiexec's rank, not the order the engines registered in
    layout = [EngineFacts(0, "b", launch_rank=3), EngineFacts(1, "a", launch_rank=0),
              EngineFacts(2, "b", launch_rank=2), EngineFacts(3, "a", launch_rank=1)]
    placements = place_ranks(layout, "gloo")
    assert [(p.rank, p.engine_id, p.host, p.local_rank) for p in placements] == [
        (0, 1, "a", 0), (1, 3, "a", 1), (2, 2, "b", 0), (3, 0, "b", 1)]


@pytest.mark.parametrize("launch_ranks", [(0, None, 1), (0, 0, 1)], ids=["one missing", "duplicates"])
def test_without_a_distinct_launcher_rank_for_every_engine_the_engine_id_orders(launch_ranks):
    layout = [EngineFacts(e, "a", launch_rank=r) for e, r in zip((2, 0, 1), launch_ranks)]
    assert [p.engine_id for p in place_ranks(layout, "gloo")] == [0, 1, 2]

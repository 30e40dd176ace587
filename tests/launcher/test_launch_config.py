"""LaunchConfig validation: bad values fail fast, with the value and a fix in the message."""

import os

import pytest

from launcher import LaunchConfig, LaunchError
from launcher import config as config_module


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has N CUDA GPUs (config asks torch through this one function)."""

    def set_count(n):
        monkeypatch.setattr(config_module, "visible_gpu_count", lambda: n)

    return set_count


def test_defaults_resolve_to_gloo_and_cpu_ranks_without_gpus(gpus):
    gpus(0)
    config = LaunchConfig()
    assert config.engines == "local"
    assert config.resolved_backend == "gloo"
    assert config.resolved_ranks == min(4, os.cpu_count())
    assert config.timeout_s == 60.0 and config.start_timeout_s == 180.0
    assert config.engine_args == {}


def test_auto_resolves_to_nccl_with_one_rank_per_gpu(gpus):
    gpus(2)
    config = LaunchConfig()
    assert (config.resolved_backend, config.resolved_ranks) == ("nccl", 2)


def test_explicit_ranks_win(gpus):
    gpus(0)
    assert LaunchConfig(ranks=7, backend="gloo").resolved_ranks == 7


def test_nccl_without_gpus_says_use_gloo(gpus):
    gpus(0)
    with pytest.raises(LaunchError) as err:
        LaunchConfig(backend="nccl")
    assert str(err.value) == (
        "backend='nccl' needs CUDA GPUs, but none are visible on this machine "
        "(torch.cuda.is_available() is False); use backend='gloo' or 'auto'."
    )


def test_nccl_with_more_ranks_than_gpus(gpus):
    gpus(2)
    with pytest.raises(LaunchError, match=r"ranks=3 but only 2 CUDA GPU\(s\) are visible"):
        LaunchConfig(ranks=3, backend="nccl")


def test_nccl_on_remote_engines_is_not_judged_by_local_gpus(gpus):
    gpus(0)
    config = LaunchConfig(ranks=8, engines="slurm", backend="nccl")
    assert config.resolved_backend == "nccl"


def test_nccl_default_ranks_on_remote_engines_need_explicit_ranks(gpus):
    gpus(0)
    with pytest.raises(LaunchError, match="give ranks=... explicitly"):
        LaunchConfig(engines="ssh", backend="nccl")


@pytest.mark.parametrize("ranks", [0, -1, 2.0, "4", True])
def test_bad_ranks(ranks):
    with pytest.raises(LaunchError) as err:
        LaunchConfig(ranks=ranks, backend="gloo")
    assert str(err.value) == (
        f"ranks={ranks!r} is not a positive integer; give ranks >= 1 (or None for the default)."
    )


def test_unknown_engines_lists_choices_and_suggests():
    with pytest.raises(LaunchError) as err:
        LaunchConfig(engines="lcoal", backend="gloo")
    message = str(err.value)
    assert message.startswith("unknown engines='lcoal'; ipyparallel knows: ")
    for name in ("local", "mpi", "slurm", "ssh"):
        assert name in message
    assert message.endswith("Did you mean 'local'?")


def test_engines_names_are_case_insensitive():
    assert LaunchConfig(engines="MPI", backend="gloo").engines == "mpi"


def test_engines_class_path_is_left_to_ipyparallel():
    path = "mypkg.launchers.MyEngineSetLauncher"
    assert LaunchConfig(engines=path, backend="gloo").engines == path


def test_engines_must_be_a_string():
    with pytest.raises(LaunchError, match=r"engines=3 is not a launcher name"):
        LaunchConfig(engines=3, backend="gloo")


def test_unknown_backend_suggests():
    with pytest.raises(LaunchError) as err:
        LaunchConfig(backend="glo")
    assert str(err.value) == (
        "unknown backend='glo'; use one of auto, gloo, nccl. Did you mean 'gloo'?"
    )


@pytest.mark.parametrize("field", ["timeout_s", "start_timeout_s"])
@pytest.mark.parametrize("value", [0, -5.0, float("inf"), "10", None])
def test_timeouts_must_be_positive_seconds(field, value):
    with pytest.raises(LaunchError) as err:
        LaunchConfig(backend="gloo", **{field: value})
    assert str(err.value) == (
        f"{field}={value!r} is not a positive number of seconds; give a value > 0."
    )


def test_engine_args_must_be_a_dict():
    with pytest.raises(LaunchError, match=r"engine_args=\['x'\] is not a dict"):
        LaunchConfig(backend="gloo", engine_args=["x"])


def test_engine_args_may_not_override_what_the_launcher_owns():
    with pytest.raises(LaunchError) as err:
        LaunchConfig(backend="gloo", engine_args={"n": 3})
    assert str(err.value) == "engine_args may not set 'n': use LaunchConfig(ranks=...)."


def test_engine_args_are_copied():
    args = {"controller_args": ["--log-level=DEBUG"]}
    config = LaunchConfig(backend="gloo", engine_args=args)
    args["controller_args"] = "changed"
    assert config.engine_args == {"controller_args": ["--log-level=DEBUG"]}


def test_the_controller_address_is_the_launch_address_not_an_engine_arg():
    with pytest.raises(LaunchError) as err:
        LaunchConfig(backend="gloo", engine_args={"controller_ip": "*"})
    assert "use LaunchConfig(address=...)" in str(err.value)


@pytest.mark.parametrize("hosts, expected", [
    ("node1:2,node2:2", {"node1": 2, "node2": 2}),
    ("node1, user@node2:3", {"node1": 1, "user@node2": 3}),
    ({"a": 1, "b": 2}, {"a": 1, "b": 2}),
])
def test_hosts_name_the_ranks_per_host_and_their_sum_is_the_rank_count(hosts, expected):
    config = LaunchConfig(engines="ssh", backend="gloo", hosts=hosts)
    assert config.hosts == expected
    assert config.resolved_ranks == sum(expected.values())


@pytest.mark.parametrize("kwargs, message", [
    (dict(engines="ssh", hosts="node1:two"), "hosts='node1:two' is not a list of hosts with their rank counts"),
    (dict(engines="mpi", hosts={"a": 0}), "is not a list of hosts with their rank counts"),
    (dict(engines="slurm", hosts="a:2"), "hosts= is for engines 'ssh' and 'mpi', not 'slurm'"),
    (dict(engines="ssh", hosts="a:2,b:2", ranks=3), "ranks=3 but hosts={'a': 2, 'b': 2} run 4; give ranks=4"),
    (dict(address=""), "address='' is not a host name or IP address of this machine"),
])
def test_bad_hosts_and_addresses_are_refused_at_once(kwargs, message):
    with pytest.raises(LaunchError) as err:
        LaunchConfig(backend="gloo", **kwargs)
    assert message in str(err.value)


def test_config_is_immutable():
    config = LaunchConfig(backend="gloo")
    with pytest.raises(AttributeError):
        config.ranks = 3


def test_shared_board_is_true_or_false():
    assert LaunchConfig(ranks=2, shared_board=False).shared_board is False
    with pytest.raises(LaunchError, match="shared_board='no' is not True or False"):
        LaunchConfig(ranks=2, shared_board="no")

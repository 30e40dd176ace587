"""What to launch: a validated, immutable description of the ranks.

Validation happens once, when the config is built, so a typo fails in
milliseconds with a message naming the value, instead of after a cluster
spent seconds starting.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import LaunchError
from .terms import AUTO, BACKEND_CHOICES, GLOO, NCCL

LOCAL_ENGINES = "local"
ENGINE_LAUNCHER_GROUP = "ipyparallel.engine_launchers"
DEFAULT_CPU_RANKS = 4
HOSTS_ENGINES = ("ssh", "mpi")
"""Engine launchers that start engines on hosts the caller names."""

RESERVED_ENGINE_ARGS = {
    "n": "use LaunchConfig(ranks=...)",
    "engines": "use LaunchConfig(engines=...)",
    "engine_launcher_class": "use LaunchConfig(engines=...)",
    "profile": "the launcher uses a private temporary profile, removed on stop",
    "profile_dir": "the launcher uses a private temporary profile, removed on stop",
    "shutdown_atexit": "the launcher stops its clusters at exit itself",
    "log": "pass log_level=... or configure the 'launcher.ipyparallel' logger",
    "controller_ip": "use LaunchConfig(address=...): the controller and the store listen there",
}


def engine_launcher_names() -> list[str]:
    """Names ipyparallel's ``Cluster(engines=...)`` accepts (its entry points)."""
    from importlib.metadata import entry_points

    names = {ep.name.lower() for ep in entry_points(group=ENGINE_LAUNCHER_GROUP)}
    return sorted(names)


GPU_DRIVER_FILES = ("/dev/nvidiactl", "/dev/dxg", "/dev/kfd")
"""A GPU torch can use needs one of these (NVIDIA's driver, WSL's, ROCm's)."""


def visible_gpu_count() -> int:
    """CUDA GPUs visible to this process; 0 when torch has no CUDA. Without a GPU driver
    the answer is 0 at once: importing torch to learn it would cost a second."""
    if not any(os.path.exists(path) for path in GPU_DRIVER_FILES):
        return 0
    import torch

    if not torch.cuda.is_available():
        return 0
    return torch.cuda.device_count()


@dataclass(frozen=True)
class LaunchConfig:
    """How many ranks, started by which ipyparallel engine launcher, on which backend.

    ranks: number of ranks; None = one per visible GPU for nccl, else
        min(4, cpu count).
    engines: ipyparallel engine launcher ("local", "mpi", "slurm", "ssh", ...).
    backend: "auto" (nccl when CUDA GPUs are visible, else gloo), "gloo", "nccl".
    timeout_s: collective timeout given to init_process_group.
    start_timeout_s: how long to wait for the engines to come up.
    engine_args: extra keyword arguments for ``ipyparallel.Cluster``.
    hosts: for engines "ssh" and "mpi", the hosts and how many ranks each runs, in rank
        order: {"node1": 2, "node2": 2} or "node1:2,node2:2" (ranks defaults to the sum).
    address: the address of this machine the engines reach it by; the controller and
        the control store listen there only. None: loopback for local engines, this
        machine's address on the route to the first ssh host, else the address this
        machine's name resolves to.
    preload: modules local engines have imported before they start (they are forked from
        a parent that imported them once), e.g. what the functions run on the ranks use.
    shared_board: when every rank runs on this host, the ranks tell each other what they
        do through a store in shared memory; False: through the TCP control store, as ranks
        on several hosts must (to measure or test that path on one machine).
    """

    ranks: int | None = None
    engines: str = LOCAL_ENGINES
    backend: str = AUTO
    timeout_s: float = 60.0
    start_timeout_s: float = 180.0
    engine_args: dict = field(default_factory=dict)
    hosts: dict | str | None = None
    address: str | None = None
    preload: tuple = ()
    shared_board: bool = True
    _resolved_backend: str = field(init=False, repr=False, compare=False, default="")
    _resolved_ranks: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self):
        engines = _check_engines(self.engines)
        backend = _check_backend(self.backend, engines)
        hosts = _check_hosts(self.hosts, engines)
        ranks = _check_ranks(self.ranks, backend, engines, hosts)
        _check_address(self.address)
        _check_preload(self.preload)
        _check_positive("timeout_s", self.timeout_s)
        _check_positive("start_timeout_s", self.start_timeout_s)
        if not isinstance(self.shared_board, bool):
            raise LaunchError(f"shared_board={self.shared_board!r} is not True or False")
        engine_args = _check_engine_args(self.engine_args)
        object.__setattr__(self, "engines", engines)
        object.__setattr__(self, "engine_args", engine_args)
        object.__setattr__(self, "hosts", hosts)
        object.__setattr__(self, "_resolved_backend", backend)
        object.__setattr__(self, "_resolved_ranks", ranks)

    @property
    def resolved_backend(self) -> str:
        """The backend the ranks use: "gloo" or "nccl" (never "auto")."""
        return self._resolved_backend

    @property
    def resolved_ranks(self) -> int:
        """The number of ranks to start (``ranks`` with the default applied)."""
        return self._resolved_ranks


def _check_engines(engines: Any) -> str:
    if not isinstance(engines, str) or not engines.strip():
        raise LaunchError(
            f"engines={engines!r} is not a launcher name; give a string such as "
            f"'local', 'mpi', 'slurm' or 'ssh'"
        )
    if "." in engines:
        return engines  # a custom launcher class path, checked by ipyparallel
    names = engine_launcher_names()
    key = engines.strip().lower()
    if key in names:
        return key
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise LaunchError(
        f"unknown engines={engines!r}; ipyparallel knows: {', '.join(names)} "
        f"(or give a launcher class path like 'mypkg.MyEngineSetLauncher').{hint}"
    )


def _check_backend(backend: Any, engines: str) -> str:
    if backend not in BACKEND_CHOICES:
        close = difflib.get_close_matches(str(backend).lower(), BACKEND_CHOICES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise LaunchError(
            f"unknown backend={backend!r}; use one of {', '.join(BACKEND_CHOICES)}.{hint}"
        )
    if backend == GLOO:
        return GLOO
    if backend == NCCL and engines != LOCAL_ENGINES:
        # Ranks run elsewhere: this machine's GPUs say nothing about theirs;
        # the per-host GPU check happens in placement, once engines report.
        return NCCL
    gpus = visible_gpu_count()
    if backend == NCCL and gpus == 0:
        raise LaunchError(
            "backend='nccl' needs CUDA GPUs, but none are visible on this machine "
            "(torch.cuda.is_available() is False); use backend='gloo' or 'auto'."
        )
    return NCCL if gpus else GLOO  # auto: decided by this machine's GPUs


def _check_hosts(hosts: Any, engines: str) -> dict | None:
    """{host: ranks on it}, from a dict or "node1:2,node2" (a host without a count runs one)."""
    if hosts is None:
        return None
    if engines not in HOSTS_ENGINES:
        raise LaunchError(f"hosts= is for engines 'ssh' and 'mpi', not {engines!r} (a Slurm job's "
                          f"nodes come from its allocation); leave hosts out.")
    if isinstance(hosts, str):
        hosts = _parse_hosts(hosts)
    if not isinstance(hosts, dict) or not hosts or any(
            not isinstance(h, str) or not h or isinstance(n, bool) or not isinstance(n, int) or n < 1
            for h, n in hosts.items()):
        raise LaunchError(f"hosts={hosts!r} is not a list of hosts with their rank counts; give "
                          f"e.g. 'node1:2,node2:2' or {{'node1': 2, 'node2': 2}}.")
    return dict(hosts)


def _parse_hosts(text: str) -> dict | str:
    """"node1:2,node2" -> {"node1": 2, "node2": 1}; the text itself when it does not parse."""
    hosts = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, colon, count = entry.rpartition(":")
        if not colon:
            name, count = entry, "1"
        if not name or not count.isdigit():
            return text
        hosts[name] = int(count)
    return hosts


def _check_address(address: Any) -> None:
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise LaunchError(f"address={address!r} is not a host name or IP address of this machine; "
                          f"give e.g. '10.0.0.1', or None to let the launcher choose.")


def _check_preload(preload: Any) -> None:
    if not isinstance(preload, tuple) or not all(isinstance(m, str) and m.strip() for m in preload):
        raise LaunchError(f"preload={preload!r} is not a tuple of module names; give e.g. ('numpy',).")


def _check_ranks(ranks: Any, backend: str, engines: str, hosts: dict | None = None) -> int:
    if hosts is not None:
        total = sum(hosts.values())
        if ranks not in (None, total):
            raise LaunchError(f"ranks={ranks!r} but hosts={hosts!r} run {total}; give ranks={total} "
                              f"or leave it out.")
        return total
    if ranks is None:
        return _default_ranks(backend, engines)
    if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
        raise LaunchError(
            f"ranks={ranks!r} is not a positive integer; give ranks >= 1 "
            f"(or None for the default)."
        )
    if backend == NCCL and engines == LOCAL_ENGINES:
        gpus = visible_gpu_count()
        if ranks > gpus:
            raise LaunchError(
                f"ranks={ranks} but only {gpus} CUDA GPU(s) are visible; NCCL needs one GPU "
                f"per rank: use ranks <= {gpus} or backend='gloo'."
            )
    return ranks


def _default_ranks(backend: str, engines: str) -> int:
    if backend != NCCL:
        return min(DEFAULT_CPU_RANKS, os.cpu_count() or 1)
    gpus = visible_gpu_count()
    if gpus == 0:
        raise LaunchError(
            f"cannot pick a default rank count for backend='nccl' with engines={engines!r}: "
            f"no CUDA GPUs are visible here; give ranks=... explicitly."
        )
    return gpus


def _check_positive(name: str, value: Any) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value <= 0:
        raise LaunchError(
            f"{name}={value!r} is not a positive number of seconds; give a value > 0."
        )


def _check_engine_args(engine_args: Any) -> dict:
    if not isinstance(engine_args, dict):
        raise LaunchError(
            f"engine_args={engine_args!r} is not a dict; give keyword arguments for "
            f"ipyparallel.Cluster as a dict, e.g. {{'controller_args': ['--log-level=DEBUG']}}."
        )
    for key in engine_args:
        if not isinstance(key, str):
            raise LaunchError(
                f"engine_args key {key!r} is not a string; use Cluster keyword names."
            )
        if key in RESERVED_ENGINE_ARGS:
            raise LaunchError(
                f"engine_args may not set {key!r}: {RESERVED_ENGINE_ARGS[key]}."
            )
    return dict(engine_args)

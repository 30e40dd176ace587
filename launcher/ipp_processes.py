"""Start and stop the controller and engines through ipyparallel's own API.

This is the only module that knows ipyparallel's launcher objects: which
calls start what, where the pids are, where the logs go. ``RankCluster``
talks to it in terms of "start", "pids", "client", "stop".
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import shutil
import subprocess
import time

import ipyparallel as ipp
import psutil
from ipyparallel.serialize.canning import interactive
from traitlets.config import Config

from . import addresses, fork_engines, terms
from .config import LOCAL_ENGINES, LaunchConfig
from .errors import LaunchError
from .zygote import Zygote

FORKED_LOCAL_ENGINES = "launcher.fork_engines.ForkEngineSetLauncher"
"""Local engines are forked from a warm parent (see zygote.py): ipyparallel engines all the same."""
HEARTBEAT_MS = 100
"""The controller pings engines this often. A new engine counts as registered only once
its heart answered a ping: ipyparallel's 3 s period made every start (and every heal)
wait 3-6 s for that alone. An idle 4-rank cluster uses 2.8% of one core at 100 ms (2.1%
at 250 ms, which registered 0.16 s slower)."""
DEAD_AFTER_S = 30
"""How long an engine may miss pings before the controller drops it: ipyparallel's 30 s."""
HEARTBEAT_ARGS = (f"--HeartMonitor.period={HEARTBEAT_MS}",
                  f"--HeartMonitor.max_heartmonitor_misses={DEAD_AFTER_S * 1000 // HEARTBEAT_MS}")
ENGINE_PATIENCE_BEATS = 300
"""Missed pings (each HEARTBEAT_MS + 0.5 s apart) before an engine decides its controller is gone
and exits: 3 minutes, about what ipyparallel's defaults give (50 x 3.5 s)."""
IPP_LOGGER = "launcher.ipyparallel"
QUIET_LOG_LEVEL = logging.ERROR
"""ipyparallel 9 engines exit with status 1 even on a clean stop, and it then
logs their whole output as a WARNING; below ERROR it is noise (the launcher
reports real failures itself). Configure the ``launcher.ipyparallel`` logger,
or pass engine_args={"log_level": ...}, to see more."""
LOG_TAIL_LINES = 15
IPP_ENGINE_VARS = ("IPP_CONNECTION_INFO", "IPP_CLUSTER_ID", "IPP_PROFILE_DIR")
"""What ipyparallel tells its engines through the environment of the process that starts them."""
SLURM_POLL_S = 1.0
"""How often a start waiting for a Slurm job's engines asks squeue whether the job ended."""


def ipp_logger(level: int | None) -> logging.Logger:
    """The logger ipyparallel's Cluster and launchers write to; quiet by default."""
    logger = logging.getLogger(IPP_LOGGER)
    if level is not None:
        logger.setLevel(level)
    elif logger.level == logging.NOTSET:
        logger.setLevel(QUIET_LOG_LEVEL)
    return logger


def make_cluster(config: LaunchConfig, profile_dir: str) -> ipp.Cluster:
    """An ipyparallel Cluster for ``config``, in a private profile dir, not started; its
    controller listens on the caller's address (``addresses.caller_address``) only."""
    kwargs = dict(config.engine_args)
    logger = ipp_logger(kwargs.pop("log_level", None))
    # a batch system's job script goes in the private profile dir, not the caller's directory
    settings = Config({"BatchSystemLauncher": {"batch_file_name": os.path.join(profile_dir, "engines.batch")},
                       "EngineLauncher": {"engine_args": [f"--IPEngine.max_heartbeat_misses={ENGINE_PATIENCE_BEATS}"]}})
    if config.engines == "mpi":
        settings.merge(mpi_settings(config.hosts))
    if config.engines == "ssh" and config.hosts:
        settings.merge(Config({"SSHEngineSetLauncher": {"engines": dict(config.hosts)}}))
    settings.merge(Config(kwargs.pop("config", {})))  # traitlets settings of the launchers: the caller's win
    named = name_the_hosts(settings) if config.engines == "ssh" else list(config.hosts or ())
    address = addresses.caller_address(config.address, config.engines, named)
    try:
        return ipp.Cluster(
            n=config.resolved_ranks,
            engines=FORKED_LOCAL_ENGINES if config.engines == LOCAL_ENGINES else config.engines,
            profile_dir=profile_dir,
            controller_ip=address,
            controller_args=[*HEARTBEAT_ARGS, *kwargs.pop("controller_args", [])],
            shutdown_atexit=False,  # RankCluster and its reaper do the cleanup
            log=logger,
            config=settings,
            **kwargs,
        )
    except Exception as exc:  # traitlets errors for bad engine_args / launcher class
        raise LaunchError(
            f"ipyparallel rejected the cluster settings (engines={config.engines!r}, "
            f"engine_args={config.engine_args!r}): {exc}; fix those values."
        ) from exc


def mpi_settings(hosts: dict | None) -> Config:
    """How mpiexec starts the engines: checked first (mpiexec and mpi4py are there), on
    the named hosts, and with Open MPI's two refusals lifted that a single machine meets:
    more ranks than cores (--oversubscribe), and running as root (allowed by its
    environment variables, as its own message says to)."""
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        raise LaunchError("engines='mpi' needs mpiexec on the PATH: install an MPI (Debian: apt-get install "
                          "openmpi-bin; or MPICH) or put its bin directory on the PATH")
    if importlib.util.find_spec("mpi4py") is None:
        raise LaunchError("engines='mpi' needs mpi4py in this Python (the engines ask MPI for their rank): "
                          "python -m pip install mpi4py")
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    open_mpi = "Open MPI" in version or "OpenRTE" in version
    settings = {"mpi_args": []}
    if hosts:
        settings["mpi_args"] += ["--host" if open_mpi else "-hosts", ",".join(f"{h}:{n}" for h, n in hosts.items())]
    if open_mpi:  # Open MPI passes on to other hosts only the variables named with -x
        settings["mpi_args"] += ["--oversubscribe", *(arg for name in IPP_ENGINE_VARS for arg in ("-x", name))]
        if os.geteuid() == 0:
            settings["environment"] = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    return Config({"MPIEngineSetLauncher": settings})


def name_the_hosts(settings: Config) -> list[str]:
    """Each ssh host's engines are told the name they were reached by (terms.ENGINE_HOST),
    for placement: `{"node1": 2, "user@node2:2222": 2}` are hosts node1 and node2, the
    names returned."""
    engines = settings.get("SSHEngineSetLauncher", {}).get("engines", {})
    names = []
    for host, slots in list(engines.items()):
        per_host = dict(slots) if isinstance(slots, dict) else {"n": slots}
        name = host.rsplit("@", 1)[-1].split(":", 1)[0]
        per_host["environment"] = {**per_host.get("environment", {}), terms.ENGINE_HOST: name}
        engines[host] = per_host
        names.append(name)
    return names


def start_warm_parent(config: LaunchConfig, profile_dir: str, package_parent: str) -> int:
    """Start the process local engines are forked from (it imports while the controller
    starts); returns its pid."""
    path = os.pathsep.join(filter(None, (package_parent, os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path, "IPP_PROFILE_DIR": profile_dir,  # found as the cluster's own
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # the kernel's debugger, imported there, is quiet about frozen modules
    parent = fork_engines.ZYGOTES[profile_dir] = Zygote(config.preload, env, os.getcwd())
    return parent.pid


def warm_parent_pid(profile_dir: str) -> int | None:
    parent = fork_engines.ZYGOTES.get(profile_dir)
    return None if parent is None or not parent.alive else parent.pid


def kill(pids) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass


def stop_warm_parent(profile_dir: str) -> None:
    parent = fork_engines.ZYGOTES.pop(profile_dir, None)
    if parent is not None:
        parent.stop()


def launcher_pids(cluster: ipp.Cluster) -> list[int]:
    """Pids of the local processes ipyparallel started (controller, engines, mpiexec).

    Batch launchers (slurm, pbs, ...) have no local pid; they yield nothing here.
    """
    pids = []
    launchers = [cluster.controller, *cluster.engines.values()]
    for launcher in launchers:
        if launcher is None:
            continue
        pids.append(getattr(launcher, "pid", None))
        for child in getattr(launcher, "launchers", {}).values():
            pids.append(getattr(child, "pid", None))
    return [p for p in pids if isinstance(p, int) and p > 0]


def connect_when_up(cluster: ipp.Cluster, n: int, deadline: float) -> ipp.Client:
    """A client, once ``n`` engines registered; LaunchError at the deadline, or as soon as
    whatever starts the engines has given up."""
    client = cluster.connect_client_sync()
    queue_asked = 0.0
    while len(client.ids) < n:
        ended = ended_launcher(cluster)
        if ended is None and time.monotonic() - queue_asked >= SLURM_POLL_S:  # squeue now and then, not 20/s
            queue_asked = time.monotonic()
            ended = next((f"the Slurm job {job} of the engines ended before they registered (see its output "
                          "and sacct)" for job, state in slurm_jobs(cluster) if state is None), None)
        if ended is not None or time.monotonic() > deadline:
            up = len(client.ids)
            client.close()
            if ended is not None:  # mpiexec, ssh, a Slurm job... gave up: no engine from it will come
                raise LaunchError(ended) from None
            waiting = "; ".join(f"the Slurm job {job} is {state or 'gone'}" for job, state in slurm_jobs(cluster))
            raise LaunchError(
                f"only {up} of {n} engines came up within the start timeout{f' ({waiting})' if waiting else ''}; "
                f"raise LaunchConfig(start_timeout_s=...) or check the engine logs."
            ) from None
        time.sleep(0.05)
    return client


def ended_launcher(cluster: ipp.Cluster) -> str | None:
    """What a local process that starts engines (mpiexec, ssh, an engine) said when it
    ended before every engine registered, or None while they all run."""
    for engine_set in cluster.engines.values():
        for launcher in [engine_set, *getattr(engine_set, "launchers", {}).values()]:
            if getattr(launcher, "process", None) is None or not hasattr(launcher, "poll"):
                continue
            status = launcher.poll()
            if status is not None:
                command = " ".join(getattr(launcher, "args", [])[:3])
                output = "\n".join(launcher.get_output().strip().splitlines()[:3 * LOG_TAIL_LINES])
                return (f"the engine launcher ({command} ...) exited with status {status} before the engines "
                        f"registered" + (f"; it said:\n{output}" if output else ""))
    return None


def slurm_jobs(cluster: ipp.Cluster) -> list[tuple[str, str | None]]:
    """(job id, what squeue says of it) for each Slurm job of the engines: `PENDING
    (Resources)`, `RUNNING`, ..., None once it left the queue, `unknown` when squeue
    cannot be asked. A Slurm job has no local process to watch: its queue is asked."""
    jobs = []
    for engine_set in cluster.engines.values():
        job = getattr(engine_set, "job_id", None)
        if not job or "Slurm" not in type(engine_set).__name__:
            continue
        try:
            done = subprocess.run(["squeue", "-h", "-j", str(job), "-o", "%T (%r)"], capture_output=True,
                                  text=True, timeout=30)
            state = (done.stdout.strip() or None) if done.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            state = "unknown"
        jobs.append((str(job), state))
    return jobs


def wait_for_new_engine(client: ipp.Client, known: set[int], deadline: float) -> int:
    """The id of an engine that registered and is not among ``known``."""
    while time.monotonic() < deadline:
        new = sorted(set(client.ids) - known)
        if new:
            return new[0]
        time.sleep(0.05)
    raise LaunchError("a replacement engine did not come up within the start timeout; "
                      "check the engine logs, or restart the cluster.")


def make_importable(client: ipp.Client, engine_ids, path: str) -> None:
    """Put ``path`` on the engines' sys.path, so they import our package as we do.

    Sent as an "interactive" function: shipped by code, so it needs no import
    on the engine (the import it enables is the point).
    """

    def _add_path(path):
        import sys

        if path not in sys.path:
            sys.path.insert(0, path)

    client[list(engine_ids)].apply_sync(interactive(_add_path), path)


def stop_cluster(cluster: ipp.Cluster | None, client: ipp.Client | None) -> list[str]:
    """Close the client and stop engines and controller; returns problems seen."""
    problems = []
    if client is not None:
        try:
            client.close()
        except Exception as exc:
            problems.append(f"closing the client: {exc!r}")
    if cluster is not None:  # the controller is stopped even when stopping the engines failed
        for what, stop in (("the engines", cluster.stop_engines_sync), ("the controller", cluster.stop_controller_sync)):
            try:
                stop()
            except Exception as exc:
                problems.append(f"stopping {what}: {exc!r}")
    return problems


def processes_of(profile_dir: str) -> list[int]:
    """Pids of this machine's processes started for the cluster of ``profile_dir``
    (ipyparallel gives each the profile dir in IPP_PROFILE_DIR): what a stop must not
    leave behind, whichever of them it reached (a controller stopped while starting leaves
    its scheduler processes orphaned)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get("IPP_PROFILE_DIR") == profile_dir:
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def log_tail(profile_dir: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of the controller and engine logs, for error messages."""
    chunks = []
    for path in sorted(glob.glob(os.path.join(profile_dir, "log", "*.log"))):
        try:
            with open(path, errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
        except OSError:
            continue
        if tail:
            chunks.append(f"--- {os.path.basename(path)} ---\n" + "\n".join(tail))
    return "\n".join(chunks)


def alive(pid: int) -> bool:
    """Whether a local process runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def descendants(pids) -> list[int]:
    """Pids of the children (recursively) of local processes, where visible."""
    found = []
    for pid in pids:
        try:
            found += [child.pid for child in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            pass
    return found

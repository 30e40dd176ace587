"""A real Slurm of the tests' own (Debian's slurm-wlm): munged if none runs, slurmctld on
this host and one slurmd per node, on free ports, as root. A node is a name, the address
slurmctld reaches it at, and the command prefix that runs its slurmd there (nothing for
this host; a network namespace and a host name of its own for a second host)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from started import free_port


@dataclass
class SlurmNode:
    name: str
    address: str | None = None
    prefix: list[str] = field(default_factory=list)


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "Slurm's slurmd needs root"
    if shutil.which("slurmctld") is None:
        return "these tests need Slurm (.ci/run installs it): apt-get install -y slurm-wlm"
    return None


def queue() -> str:
    return subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def running_slurm(home: Path, nodes: list[SlurmNode], cpus: int, controller_address: str | None = None):
    """Slurm running on ``nodes`` (the first is this host's) with ``cpus`` CPUs declared on
    each (config_overrides lets more tasks than cores fit); SLURM_CONF names it while the
    block runs. At the end the jobs are cancelled and every daemon and job step is stopped."""
    for sub in ("state", "log"):
        (home / sub).mkdir(exist_ok=True)
    for node in nodes:
        (home / f"spool-{node.name}").mkdir(exist_ok=True)
    controller = nodes[0].name + (f"({controller_address})" if controller_address else "")
    conf = home / "slurm.conf"
    conf.write_text(
        f"ClusterName=tcltest\nSlurmctldHost={controller}\nSlurmctldPort={free_port()}\nSlurmdPort={free_port()}\n"
        f"AuthType=auth/munge\nStateSaveLocation={home}/state\nSlurmdSpoolDir={home}/spool-%n\n"
        f"SlurmctldPidFile={home}/slurmctld.pid\nSlurmdPidFile={home}/slurmd-%n.pid\n"
        f"SlurmctldLogFile={home}/log/slurmctld.log\nSlurmdLogFile={home}/log/slurmd-%n.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n"
        "SlurmUser=root\nReturnToService=2\nSlurmdParameters=config_overrides\nMpiDefault=none\n"
        + "".join(f"NodeName={n.name}" + (f" NodeAddr={n.address}" if n.address else "") + f" CPUs={cpus} State=UNKNOWN\n"
                  for n in nodes)
        + f"PartitionName=debug Nodes={','.join(n.name for n in nodes)} Default=YES MaxTime=INFINITE State=UP\n")
    munged = _munged()
    env = dict(os.environ, SLURM_CONF=str(conf))
    daemons = [subprocess.Popen(["slurmctld", "-D", "-f", str(conf), "-c"], env=env)]
    daemons += [subprocess.Popen([*n.prefix, "slurmd", "-D", "-f", str(conf), "-N", n.name], env=env) for n in nodes]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True).stdout.split()
            if states.count("idle") == len(nodes):
                break
            time.sleep(0.1)
        yield conf
        subprocess.run(["scancel", "--user", "root"], capture_output=True)  # our test cluster's jobs only
        deadline = time.monotonic() + 10
        while queue() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        for daemon in [*reversed(daemons), *([munged] if munged else [])]:  # munged only if we started it
            _stop(daemon)


def _munged() -> subprocess.Popen | None:
    """Start munged (with a key of its own) unless one answers already."""
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None
    for directory in ("/etc/munge", "/run/munge", "/var/log/munge", "/var/lib/munge"):
        os.makedirs(directory, exist_ok=True)
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
    subprocess.run(["chown", "-R", "munge:munge", "/etc/munge", "/run/munge", "/var/log/munge", "/var/lib/munge"],
                   check=True)
    key.chmod(0o400)
    munged = subprocess.Popen(["runuser", "-u", "munge", "--", "munged", "--foreground", "--force"])
    for _ in range(100):
        if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    return munged


def _stop(daemon: subprocess.Popen) -> None:
    """Stop a daemon, and the job steps (slurmstepd) it started that outlived it."""
    family = [c.pid for c in psutil.Process(daemon.pid).children(recursive=True)] \
        if psutil.pid_exists(daemon.pid) else []
    daemon.terminate()
    try:
        daemon.wait(20)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait(10)
    for pid in family:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()

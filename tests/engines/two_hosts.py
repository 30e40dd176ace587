"""Two hosts on one machine, for real: a second network namespace joined to this one by a
veth pair. Host A is this machine's namespace at 10.N.M.1, host B the new namespace at
10.N.M.2 with a host name of its own; B has its own interfaces and its own loopback, so a socket that A opens on
127.0.0.1 is out of B's reach, as it would be on two machines. An sshd runs on each host
(same port, same throwaway key), and a bin directory puts `ssh` and `scp` wrappers that
read a config naming that port and key first on the PATH, as ~/.ssh/config would.
Needs root and a kernel that allows network namespaces; `available()` says why not."""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from started import eventually, free_port

SSHD = "/usr/sbin/sshd"


@dataclass
class TwoHosts:
    a: str  # this machine's namespace
    b: str  # the second namespace
    namespace: str
    port: int
    bin_dir: Path
    subnet: str
    b_name: str  # B's host name

    def in_b(self, *command: str) -> list[str]:
        """A command line that runs ``command`` on host B (its network only: unlike `ip netns
        exec`, nsenter leaves /sys as it is, cgroups included, as slurmd needs)."""
        return in_namespace(self.namespace, *command)

    def as_b(self) -> list[str]:
        """The prefix that runs a command on host B under B's host name (a daemon whose
        sessions must see it: sshd, slurmd)."""
        return [*in_namespace(self.namespace), "unshare", "--uts", "sh", "-c", f'hostname {self.b_name} && exec "$0" "$@"']

    def listening_in_b(self) -> list[tuple[str, int, int]]:
        """(address, port, pid) of every listening TCP socket in B."""
        out = subprocess.run(self.in_b("ss", "-Htlnp"), capture_output=True, text=True).stdout
        return _parse_ss(out)


def in_namespace(namespace: str, *command: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{namespace}", *command]


def listening_in_a() -> list[tuple[str, int, int]]:
    return _parse_ss(subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout)


def _parse_ss(text: str) -> list[tuple[str, int, int]]:
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        address, _, port = fields[3].rpartition(":")
        for pid in (int(p.split("=")[1]) for p in line.split(",") if p.startswith("pid=")):
            found.append((address.strip("[]"), int(port), pid))
    return found


def available() -> str | None:
    """None when two hosts can be made here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, sshd)"
    missing = [tool for tool in ("ip", "ss", SSHD) if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install iproute2 openssh-server)"
    probe = f"ttprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"this kernel refuses a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


@contextlib.contextmanager
def two_hosts(home: Path):
    tag = f"{os.getpid() % 100000}"
    namespace, veth_a, veth_b = f"tth{tag}", f"tta{tag}", f"ttb{tag}"
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
    a, b = f"{subnet}.1", f"{subnet}.2"
    daemons: list[subprocess.Popen] = []
    _run("ip", "netns", "add", namespace)
    try:
        _run("ip", "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        _run("ip", "link", "set", veth_b, "netns", namespace)
        _run("ip", "addr", "add", f"{a}/24", "dev", veth_a)
        _run("ip", "link", "set", veth_a, "up")
        for command in (("ip", "addr", "add", f"{b}/24", "dev", veth_b), ("ip", "link", "set", veth_b, "up"),
                        ("ip", "link", "set", "lo", "up")):
            _run(*in_namespace(namespace, *command))
        port = free_port(a)
        config = _ssh_files(home, port)
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        hosts = TwoHosts(a, b, namespace, port, home / "bin", f"{subnet}.0/24", f"hostb{tag}")
        for host, prefix in ((a, []), (b, hosts.as_b())):  # B's host name is its own (a UTS namespace)
            daemons.append(subprocess.Popen([*prefix, SSHD, "-D", "-f", str(config), "-o", f"ListenAddress={host}",
                                             "-o", f"PidFile={home}/sshd-{host}.pid", "-E", str(home / f"sshd-{host}.log")]))
        _wait_for_port(a, port)
        eventually(lambda: any(p == port for _, p, _ in hosts.listening_in_b()), timeout_s=10)
        yield hosts
    finally:
        for daemon in daemons:
            daemon.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.wait(10)
        _kill_everything_in(namespace)
        subprocess.run(["ip", "link", "del", veth_a], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def _ssh_files(home: Path, port: int) -> Path:
    """Keys, sshd's config, the client's config and the ssh/scp wrappers that read it."""
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    sftp = next(p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server") if os.path.exists(p))
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nHostKey {home}/host_key\nAuthorizedKeysFile {home}/authorized_keys\n"
        f"PermitRootLogin yes\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nSubsystem sftp {sftp}\n")
    client = home / "ssh_config"
    client.write_text(f"Host *\n  Port {port}\n  IdentityFile {home}/client_key\n  StrictHostKeyChecking no\n"
                      f"  UserKnownHostsFile /dev/null\n  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 10\n")
    bin_dir = home / "bin"
    bin_dir.mkdir()
    for tool in ("ssh", "scp"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec {shutil.which(tool)} -F {client} "$@"\n')
        wrapper.chmod(0o755)
    return config


def _wait_for_port(address: str, port: int) -> None:
    def up() -> bool:
        try:
            socket.create_connection((address, port), timeout=0.2).close()
            return True
        except OSError:
            return False
    eventually(up, timeout_s=10)


def _kill_everything_in(namespace: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)

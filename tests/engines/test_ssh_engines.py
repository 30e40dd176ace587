"""Engines started through a real sshd (Debian's openssh-server, which `.ci/run` installs),
run by this test on a loopback port with throwaway keys: two host names of this machine
(127.0.0.1 and localhost) are two hosts to placement, with local ranks and the address
their ranks listen on, and the results are those of local engines."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from launcher import LaunchConfig, LaunchError, RankCluster
from started import assert_same_as_local, cluster_processes, demo, eventually, free_port

SSHD = "/usr/sbin/sshd"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1:PORT that accepts one throwaway key; stopped at the end."""
    if not os.path.exists(SSHD):
        pytest.fail("these tests need OpenSSH's server (.ci/run installs it): apt-get install -y openssh-server")
    home = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    port = free_port()
    sftp = next(p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server") if os.path.exists(p))
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home}/host_key\nAuthorizedKeysFile {home}/authorized_keys\n"
        f"PermitRootLogin yes\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nPidFile {home}/sshd.pid\nSubsystem sftp {sftp}\n")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    daemon = subprocess.Popen([SSHD, "-D", "-f", str(home / "sshd_config"), "-E", str(home / "sshd.log")])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port, home / "client_key"
    daemon.terminate()
    daemon.wait(10)


def ssh_config(port: int, key: Path, hosts: dict) -> dict:
    options = ["-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
    return {"config": {"SSHEngineSetLauncher": {
        "engines": {f"{host}:{port}": n for host, n in hosts.items()},
        "ssh_args": options, "scp_args": list(options), "remote_python": sys.executable}}}


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_two_host_names_are_two_hosts_and_the_results_are_those_of_local_engines(sshd, cluster_of):
    port, key = sshd
    config = LaunchConfig(ranks=4, engines="ssh", backend="gloo", timeout_s=30, start_timeout_s=180,
                          engine_args=ssh_config(port, key, {"127.0.0.1": 2, "localhost": 2}))
    cluster = RankCluster(config).start()
    try:
        layout = [(p.rank, p.host, p.local_rank, p.local_world_size, p.address) for p in cluster.placements]
        assert layout == [(0, "127.0.0.1", 0, 2, "127.0.0.1"), (1, "127.0.0.1", 1, 2, "127.0.0.1"),
                          (2, "localhost", 0, 2, "127.0.0.1"), (3, "localhost", 1, 2, "127.0.0.1")]
        pids = cluster.run(os.getpid)
        # really started through our sshd: its session variables name its port
        connections = cluster.run(os.getenv, "SSH_CONNECTION")
        assert all(c and c.split()[-1] == str(port) for c in connections), connections
        ours = demo(cluster)
    finally:
        cluster.stop()
    assert_same_as_local(ours, cluster_of)
    assert eventually(lambda: not alive(pids)), "engines left running on the ssh hosts"


def test_a_host_that_refuses_ssh_is_a_clear_error_and_leaves_nothing_running(sshd):
    _, key = sshd
    closed = free_port()  # nothing listens there: the connection is refused
    config = LaunchConfig(ranks=2, engines="ssh", backend="gloo", timeout_s=30, start_timeout_s=60,
                          engine_args=ssh_config(closed, key, {"127.0.0.1": 2}))
    before = cluster_processes()
    with pytest.raises(LaunchError) as failure:
        RankCluster(config).start()
    message = str(failure.value)
    assert message.startswith("could not start 2 rank(s) with engines='ssh'")
    assert "Check that `ssh -o BatchMode=yes [-p PORT] HOST true` works" in message
    assert message.endswith("Everything started was stopped.") or "Everything started was stopped.\n" in message
    assert "within the start timeout" not in message  # its failure is noticed, not waited out
    assert eventually(lambda: not cluster_processes() - before), "processes left running"

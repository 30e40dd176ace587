"""Kill a cluster's processes when its caller dies, even by SIGKILL.

The caller starts this as a separate session (``start_new_session=True``) with
a pipe on its stdin and writes the pids of the controller and engines to it,
one per line. The pipe reaches EOF when the caller exits for ANY reason,
because the kernel closes the write end; then the reaper SIGTERMs the pids
(and their children), waits a grace period, SIGKILLs survivors and removes
the cluster's profile dir. A ``done`` line disarms it.

Runnable as ``python -m launcher.reaper PROFILE_DIR`` or as a script; it only
uses the standard library and psutil (a dependency of ipyparallel).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil

DISARM = "done"
DEFAULT_GRACE_S = 5.0


def read_pids(stream) -> dict[int, psutil.Process] | None:
    """Collect watched processes until EOF; None when told to disarm.

    The create time is kept with each pid so a pid reused later by an
    unrelated process is never killed.
    """
    watched: dict[int, psutil.Process] = {}
    for line in stream:
        word = line.strip()
        if word == DISARM:
            return None
        if word.isdigit() and int(word) != os.getpid():
            try:
                watched[int(word)] = psutil.Process(int(word))
            except psutil.Error:
                pass  # already gone
    return watched


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _with_children(procs) -> list[psutil.Process]:
    found = {}
    for proc in procs:
        if not _alive(proc):
            continue
        found[proc.pid] = proc
        try:
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            pass
    return list(found.values())


def _signal_all(procs, sig) -> None:
    for proc in procs:
        try:
            if _alive(proc):  # is_running() checks the create time: no pid reuse
                proc.send_signal(sig)
        except psutil.Error:
            pass


def _wait_gone(procs, timeout_s: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _alive(p)]
    return alive


def reap(watched, profile_dir: str | None, grace_s: float = DEFAULT_GRACE_S) -> None:
    """SIGTERM the watched processes and children, SIGKILL survivors, remove dir."""
    procs = _with_children(watched)
    _signal_all(procs, signal.SIGTERM)
    survivors = _wait_gone(procs, grace_s)
    _signal_all(survivors, signal.SIGKILL)
    _wait_gone(survivors, grace_s)
    if profile_dir:
        shutil.rmtree(profile_dir, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile_dir", help="directory to remove after reaping")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_S)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only EOF ends the watch
    watched = read_pids(sys.stdin)
    if watched is not None:
        reap(watched.values(), args.profile_dir, args.grace)
    return 0


class ReaperHandle:
    """The caller's side: start the reaper, feed it pids, end it on clean stop."""

    def __init__(self, profile_dir: str, grace_s: float = DEFAULT_GRACE_S):
        # -P (3.11+): do not put this package's dir first on the reaper's sys.path
        safe_path = ["-P"] if sys.version_info >= (3, 11) else []
        self._proc = subprocess.Popen(
            [sys.executable, *safe_path, os.path.abspath(__file__), profile_dir,
             "--grace", str(grace_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # survives signals sent to the caller's group
            text=True,
        )
        self._sent: set[int] = set()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def watch(self, pids) -> None:
        """Add pids to kill if the caller dies; pids already sent are skipped."""
        new = [int(p) for p in pids if p and int(p) > 0 and int(p) not in self._sent]
        if not new or self._proc.stdin is None or self._proc.stdin.closed:
            return
        try:
            self._proc.stdin.write("".join(f"{p}\n" for p in new))
            self._proc.stdin.flush()
            self._sent.update(new)
        except (BrokenPipeError, OSError):
            pass  # reaper gone; nothing more it can do for us

    def finish(self, timeout_s: float = 15.0) -> None:
        """Close the pipe so the reaper sweeps up whatever survived, and wait for it."""
        try:
            if self._proc.stdin and not self._proc.stdin.closed:
                self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


if __name__ == "__main__":
    sys.exit(main())

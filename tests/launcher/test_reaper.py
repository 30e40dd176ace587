"""The reaper on its own: it kills what it was told about once its stdin closes."""

import os
import subprocess
import sys
import time

import psutil

from launcher.reaper import DISARM, ReaperHandle


def sleeper():
    """A stand-in for an engine: its own session, with a child of its own."""
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        "time.sleep(120)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 30
    while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def test_finish_kills_watched_processes_and_children_and_removes_dir(tmp_path):
    victim = sleeper()
    grandchild = psutil.Process(victim.pid).children()[0]
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    reaper = ReaperHandle(str(profile_dir), grace_s=5)
    reaper.watch([victim.pid])
    reaper.finish()
    assert victim.wait(timeout=30) is not None
    psutil.wait_procs([grandchild], timeout=30)
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE
    assert not profile_dir.exists()


def test_disarmed_reaper_leaves_processes_alone(tmp_path):
    victim = sleeper()
    try:
        reaper = ReaperHandle(str(tmp_path), grace_s=5)
        reaper.watch([victim.pid])
        reaper._proc.stdin.write(f"{DISARM}\n")
        reaper._proc.stdin.flush()
        reaper.finish()
        assert victim.poll() is None
        assert tmp_path.exists()
    finally:
        for proc in [*psutil.Process(victim.pid).children(recursive=True), victim]:
            proc.kill()
        victim.wait()


def test_runnable_as_module(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-m", "launcher.reaper", str(target)], input="",
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not target.exists()

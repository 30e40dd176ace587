"""A warm parent for local engines: it imports torch, ipyparallel's engine and whatever the
caller preloads once, then forks each engine from that state.

A fresh engine process spends seconds importing the same modules every other engine
imports (several of them sharing a few cores on a small machine); a fork starts with them
imported. The parent starts no thread of its own and never touches CUDA, gloo or a Tcl
interpreter (numpy's OpenBLAS pool handles a fork itself), so the children start as clean
as a new process would. Each child becomes a plain ipyparallel
engine (``ipyparallel.engine.app.main`` with the launcher's arguments and environment).

Run as ``main([MODULE, ...])`` in a fresh Python: it says ``ready`` on stdout once the
modules are imported, then reads one JSON request per line (argv, env, output file,
working directory) and answers each with the child's pid.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import traceback

from .errors import LaunchError

ALWAYS_PRELOADED = ("torch", "torch.distributed", "ipyparallel.engine.app", "ipyparallel.engine.kernel",
                    "ipykernel.debugger", "launcher.rank_setup")
"""What every engine imports as it starts (the kernel's debugger support included: 0.3 s of imports)."""


def main(preload: list[str]) -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)  # our pipe; fd 1 itself goes to the children's logs
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        for name in (*ALWAYS_PRELOADED, *preload):
            importlib.import_module(name)
    except BaseException as exc:  # said on the pipe: the caller reports it
        answers.write(json.dumps({"error": f"cannot import {name}: {exc!r}"}) + "\n")
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # exited children are reaped at once, by the kernel
    answers.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            answers.close()
            _become_engine(request)
        answers.write(json.dumps({"pid": pid}) + "\n")


def _become_engine(request: dict) -> None:
    """In the child: the engine's own session, output, environment and arguments; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the engine waits for its own children
        os.setsid()  # signals to the caller's terminal are not ours
        stdin = os.open(os.devnull, os.O_RDONLY)
        output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for fd, target in ((0, stdin), (1, output), (2, output)):
            os.dup2(target, fd)
        os.close(stdin)
        os.close(output)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = list(request["argv"])
        from ipyparallel.engine.app import main as engine_main

        engine_main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Zygote:
    """The caller's handle on a warm parent process: started at once, imports in the
    background while the controller starts, forks engines on request."""

    def __init__(self, preload: tuple[str, ...], env: dict, cwd: str):
        self._process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from launcher.zygote import main; main(sys.argv[1:])", *preload],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, cwd=cwd, text=True, start_new_session=True)
        self._lock = threading.Lock()
        self._ready: bool | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.poll() is None and self._ready is not False

    def fork(self, argv: list[str], env: dict, output: str, cwd: str) -> int:
        """The pid of a new engine process running ``argv`` (ipyparallel's engine command)."""
        request = {"argv": argv[argv.index("ipyparallel.engine"):] if "ipyparallel.engine" in argv else argv,
                   "env": env, "output": output, "cwd": cwd}
        with self._lock:
            self._wait_ready()
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            return int(self._answer()["pid"])

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            pipe.close()

    def _wait_ready(self) -> None:
        if self._ready:
            return
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            self._ready = False
            said = json.loads(line).get("error") if line.startswith("{") else f"it exited ({self._process.wait()})"
            raise LaunchError(f"the engines' parent process could not start: {said}")
        self._ready = True

    def _answer(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            raise LaunchError(f"the engines' parent process ended (status {self._process.wait()})")
        return json.loads(line)

"""ipyparallel's local engine launcher, with engines forked from a warm parent (``zygote``).

The engines are ordinary ipyparallel engines (their arguments, environment, log files
and stop/signal handling are the local launcher's); only the way their process starts
differs. The Zygote of a cluster is registered under its profile dir before the
controller starts, so it imports while the controller comes up.
"""

from __future__ import annotations

import os

import psutil
from ipyparallel.cluster.launcher import LocalEngineLauncher, LocalEngineSetLauncher, ProcessStateError
from traitlets import Float

from .zygote import Zygote

ZYGOTES: dict[str, Zygote] = {}
"""profile dir -> the warm parent of that cluster's engines."""


NO_NANNY = "--IPEngine.enable_nanny=False"
"""A local engine needs no nanny process (another Python start per engine, awaited before
it registers): the launcher signals local engines by pid and sees them end by pid."""


class ForkedEngineLauncher(LocalEngineLauncher):
    """One engine, forked by its cluster's Zygote."""

    def start(self):
        if self.state != "before":
            raise ProcessStateError(f"The process was already started and has state: {self.state}")
        env = {**os.environ, **self.get_env()}
        self.pid = ZYGOTES[self.profile_dir].fork([*self.args, NO_NANNY], env, self.output_file, self.work_dir)
        self.process = psutil.Process(self.pid)
        self.notify_start(self.pid)
        self._start_waiting()


class ForkEngineSetLauncher(LocalEngineSetLauncher):
    """Local engines, forked: no pause between them (their ids need not follow start order)."""

    launcher_class = ForkedEngineLauncher
    delay = Float(0.0, config=True, help="seconds between two engine starts")

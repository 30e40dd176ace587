"""Imported once by the parent local engines are forked from (LaunchConfig.preload): what
every rank's first cell would otherwise import and compute for itself (the Tcl layer,
torch::aten::'s procs, built from torch's schemas), done before the fork. Nothing here
starts a thread or a Tcl interpreter: the forked engines must start clean."""
from .commands import aten
from .session import TclSession  # noqa: F401  (imported for the engines)

aten.tcl_source()

"""What local engines import before they are forked from their warm parent: the Tcl layer
and torch::aten::'s procs (`tcl_magic.warm`). A module of its own, light to import: the
command line names it before it has imported torch."""

ENGINE_PRELOAD = ("tcl_magic.warm",)
"""LaunchConfig.preload for the engines of the front ends."""

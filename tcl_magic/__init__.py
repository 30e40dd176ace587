"""tcl-magic: Tcl on real torch.distributed ranks, from Jupyter or the command line."""
from .results import CellResult, TclErrorInfo, TensorSummary
from .session import TclSession

__all__ = ["TclSession", "CellResult", "TclErrorInfo", "TensorSummary", "load_ipython_extension"]


def load_ipython_extension(shell) -> None:
    """`%load_ext tcl_magic`: registers %%torchtcl and %torchtcl."""
    from .magic import load_ipython_extension as load
    load(shell)

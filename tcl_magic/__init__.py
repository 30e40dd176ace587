"""tcl-magic: Tcl on real torch.distributed ranks, from Jupyter or the command line."""
from .results import CellResult, TclErrorInfo, TensorSummary
from .session import TclSession

__all__ = ["TclSession", "CellResult", "TclErrorInfo", "TensorSummary"]

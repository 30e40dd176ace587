"""torchtcl: Tcl on real torch.distributed ranks, from Jupyter or the command line (module tcl_magic)."""
from .results import CellResult, TclErrorInfo, TensorSummary

__all__ = ["TclSession", "CellResult", "TclErrorInfo", "TensorSummary", "load_ipython_extension"]


def load_ipython_extension(shell) -> None:
    """`%load_ext tcl_magic`: registers %%torchtcl and %torchtcl."""
    from .magic import load_ipython_extension as load
    load(shell)


def __getattr__(name: str):
    """TclSession on first use: `torchtcl run` checks a script before paying for torch's import."""
    if name == "TclSession":
        from .session import TclSession
        return TclSession
    raise AttributeError(f"module 'tcl_magic' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension in this package, for `jupyter labextension develop`
    (an editable install; a wheel installs it under share/jupyter/labextensions itself)."""
    return [{"src": "labextension", "dest": "torchtcl"}]

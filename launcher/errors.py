"""The one error family of the launcher, so callers can catch ``LaunchError``.

Every error a user can cause or meet (bad config, ranks that do not come up,
a function that raises on some ranks) is a ``LaunchError`` whose message
quotes the offending value and says what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .config import LaunchConfig


class LaunchError(Exception):
    """A launcher failure: bad configuration, failed start, failed run."""


class RankTimeout(LaunchError):
    """Some ranks did not finish a run within the requested timeout."""

    def __init__(self, message: str, pending_ranks: list[int]):
        super().__init__(message)
        self.pending_ranks = list(pending_ranks)

    def __reduce__(self):
        return (type(self), (str(self), self.pending_ranks))


class RankError(NamedTuple):
    """What went wrong on one rank, in plain strings (safe to pickle/print)."""

    type_name: str
    message: str
    traceback: str


class RankFailure(LaunchError):
    """A function raised on some ranks.

    ``failures`` maps rank -> RankError(type_name, message, traceback);
    ``results`` maps rank -> result for the ranks that succeeded.
    """

    def __init__(self, failures: dict[int, RankError], results: dict[int, Any]):
        self.failures = dict(sorted(failures.items()))
        self.results = dict(results)
        super().__init__(self._describe())

    def _describe(self) -> str:
        total = len(self.failures) + len(self.results)
        lines = [f"{len(self.failures)} of {total} rank(s) failed:"]
        for rank, error in self.failures.items():
            detail = f": {error.message}" if error.message else ""
            lines.append(f"rank {rank}: {error.type_name}{detail}")
        return "\n".join(lines)

    def __reduce__(self):
        return (type(self), (self.failures, self.results))


_WHAT_TO_CHECK = {
    "ssh": "that `ssh -o BatchMode=yes [-p PORT] HOST true` works for every host of the engines setting "
           "(keys, ports, known hosts), and that remote_python on each host has torchtcl installed",
    "mpi": "that mpiexec starts `python -c pass` with the same arguments, and its hosts and slots",
    "slurm": "the job with squeue/sacct, and the partition and time limit it asked for",
}


def start_error(config: "LaunchConfig", exc: Exception, logs: str) -> LaunchError:
    """What a failed start says: what it tried, why it failed, what to check, the logs."""
    what = (
        f"could not start {config.resolved_ranks} rank(s) with engines={config.engines!r}, "
        f"backend={config.resolved_backend!r}"
    )
    detail = str(exc) if isinstance(exc, LaunchError) else repr(exc)
    message = f"{what}: {detail}"
    if config.engines in _WHAT_TO_CHECK and not isinstance(exc, LaunchError):
        message += f"\nCheck {_WHAT_TO_CHECK[config.engines]}."
    message += "\nEverything started was stopped."
    if logs:
        message += f"\nLast lines of the controller/engine logs:\n{logs}"
    return LaunchError(message)

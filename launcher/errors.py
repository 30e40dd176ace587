"""The one error family of the launcher, so callers can catch ``LaunchError``.

Every error a user can cause or meet (bad config, ranks that do not come up,
a function that raises on some ranks) is a ``LaunchError`` whose message
quotes the offending value and says what to do.
"""

from __future__ import annotations

from typing import Any, NamedTuple


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

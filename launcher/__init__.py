"""Start and drive torch.distributed ranks on ipyparallel engines.

    from launcher import LaunchConfig, RankCluster

    with RankCluster(LaunchConfig(ranks=4, backend="gloo")) as ranks:
        results = ranks.run(my_module.my_function, 42)   # one result per rank

The package knows nothing about what runs on the ranks: it starts them,
joins them into a process group, runs picklable functions on them, and
stops them (also when the caller dies).
"""

from .cluster import RankCluster
from .config import LaunchConfig
from .errors import LaunchError, RankError, RankFailure, RankTimeout
from .placement import EngineFacts, RankPlacement, place_ranks
from .runs import PendingRun

__all__ = [
    "EngineFacts",
    "LaunchConfig",
    "LaunchError",
    "PendingRun",
    "RankCluster",
    "RankError",
    "RankFailure",
    "RankPlacement",
    "RankTimeout",
    "place_ranks",
]

"""The one place that talks to torch.distributed: the world and its groups (world),
the collectives (collectives) and point-to-point transfers (p2p)."""
from . import collectives, p2p
from .world import Comm, Group, chunk_sizes, format_ranks

__all__ = ["Comm", "Group", "chunk_sizes", "format_ranks", "collectives", "p2p"]

"""The one place that talks to torch.distributed: the world and its groups (world), the
agreement layer every call that moves data goes through (agreement, on the board), the
collectives (collectives) and point-to-point transfers (p2p)."""
from . import collectives, p2p
from .states import format_ranks
from .world import Comm, Group, chunk_sizes

__all__ = ["Comm", "Group", "chunk_sizes", "format_ranks", "collectives", "p2p"]

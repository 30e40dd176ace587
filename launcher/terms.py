"""Domain terms shared by the caller and the ranks, defined once.

The environment variable names are the ones ``torch.distributed`` (and most
code written for ``torchrun``) reads, so code run on the ranks can rely on
them exactly as it would under ``torchrun``.
"""

RANK = "RANK"
"""Global index of a rank, 0 .. WORLD_SIZE - 1."""

WORLD_SIZE = "WORLD_SIZE"
"""Number of ranks in the process group."""

LOCAL_RANK = "LOCAL_RANK"
"""Index of a rank among the ranks on the same host (picks the GPU)."""

LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE"
"""Number of ranks on the same host."""

MASTER_ADDR = "MASTER_ADDR"
"""Address of the rendezvous store. The launcher serves it from the caller's process: it
outlives every rank, serves each generation of the process group's rendezvous, and
carries what the ranks tell each other about their progress."""

MASTER_PORT = "MASTER_PORT"
"""TCP port of the rendezvous store on MASTER_ADDR."""

SHARED_STORE = "TORCHTCL_SHARED_STORE"
"""Set by the launcher when every rank runs on the caller's host: the file of the store in
shared memory (shared_store.py) that the ranks and the caller use instead of the TCP store
for what they tell each other, many times faster."""

ENGINE_HOST = "TORCHTCL_ENGINE_HOST"
"""Set by the launcher for engines it starts on a named host (ssh): the name placement
groups them by, so two names of one machine are two hosts, as the user laid them out."""

DERIVED_IFNAME = "TORCHTCL_DERIVED_IFNAME"
"""Set beside GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME when this package chose their
interface (addresses.listen_on), so that a process started from that one (an engine, which
inherits its environment even through srun) does not take the choice for its user's."""

LAUNCH_RANK_VARS = ("SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")
"""Where srun and mpiexec tell a process its rank among those they started: placement
numbers ranks in this order when every engine has one."""

RANK_ENV_VARS = (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)

AUTO = "auto"
GLOO = "gloo"
NCCL = "nccl"
BACKEND_CHOICES = (AUTO, GLOO, NCCL)
"""Values accepted for ``LaunchConfig.backend``; AUTO resolves to GLOO or NCCL."""

CPU_DEVICE = "cpu"
LOOPBACK_ADDR = "127.0.0.1"
"""MASTER_ADDR used when every rank is on one host: needs no name resolution."""

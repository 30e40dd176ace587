"""`%torchtcl cluster start|status|restart|stop`: the ranks that cells run on.

Its own Magics class, registered beside `%%torchtcl`'s (which forwards `%torchtcl cluster
...` here, and reads `cluster` and `supervisor` to run cells): it owns the attached
cluster and the supervisor of its cells. `%torchtcl_cluster` is the same magic by its own
name, so that `%torchtcl_cluster?` shows its options.
"""
from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from launcher import LaunchError, RankCluster

from .frontend import cluster_options, launch_config
from .supervise import CellSupervisor

VERBS = ("start", "status", "restart", "stop")


def _with_cluster_options(magic):
    """Declare the shared cluster options (frontend.cluster_options) on a magic."""
    for flags, keywords in reversed(cluster_options("one per GPU with nccl, else 4")):
        magic = argument(*flags, **keywords)(magic)
    return magic


@magics_class
class ClusterMagics(Magics):
    """The attached cluster (None: cells run in the kernel) and the supervisor of its cells."""

    def __init__(self, shell=None):
        super().__init__(shell)
        self.cluster: RankCluster | None = None
        self.supervisor: CellSupervisor | None = None
        self.on_attach = lambda: None  # the cell magic forgets what it saw on the old ranks

    @magic_arguments()
    @argument("verb", choices=VERBS, help="start ranks, show where they are, restart them fresh, or stop them")
    @_with_cluster_options
    @line_magic
    def torchtcl_cluster(self, line: str) -> None:
        """%torchtcl cluster start|status|restart|stop: the ranks cells run on."""
        args = parse_argstring(self.torchtcl_cluster, line)
        if args.verb == "start":
            self._start(args)
        elif args.verb == "status":
            print(cluster_status(self.cluster, self.supervisor))
        elif self.cluster is None:
            raise UsageError(f"no cluster to {args.verb}; start one with %torchtcl cluster start -n 4")
        elif args.verb == "restart":
            self._start(args, restart=True)
        else:
            cluster = self.cluster
            self.attach(None)
            cluster.stop()
            print(f"stopped {cluster.world_size} ranks; cells run in the kernel again")

    def _start(self, args, restart: bool = False) -> None:
        from .widgets import StartProgress
        if restart:
            cluster, what = self.cluster, f"{self.cluster.world_size} fresh ranks"
        else:
            if self.cluster is not None and self.cluster.is_running:
                raise UsageError(f"a cluster of {self.cluster.world_size} ranks is already running; "
                                 "%torchtcl cluster restart gives fresh ranks, %torchtcl cluster stop ends it")
            try:
                config = launch_config(args, args.ranks)
            except LaunchError as err:
                raise UsageError(str(err)) from None
            cluster = RankCluster(config)
            what = f"{config.resolved_ranks} ranks (engines {config.engines}, backend {config.resolved_backend})"
        self.cluster = None
        try:
            with StartProgress(what):
                cluster.restart() if restart else cluster.start()
        except LaunchError as err:
            raise UsageError(str(err)) from None
        self.attach(cluster)
        print(cluster_status(cluster, self.supervisor))

    def attach(self, cluster: RankCluster | None) -> None:
        """Run cells on `cluster` (None: back to the kernel's own session)."""
        if cluster is not None and not cluster.is_running:
            raise UsageError(f"{cluster!r} is not running; call its start() first")
        self.cluster = cluster
        self.supervisor = None if cluster is None else CellSupervisor(cluster)
        self.on_attach()


def cluster_status(cluster: RankCluster | None, supervisor: CellSupervisor | None = None) -> str:
    """World size, backend, where each rank lives (host, local rank, device), and the truth
    about it: alive or dead, a fresh engine since a heal, the last error it reported."""
    if cluster is None or not cluster.is_running:
        return "no cluster: cells run in the kernel (a world of one); start one with %torchtcl cluster start -n 4"
    config = cluster.config
    rebuilt = f", process group rebuilt {cluster.generation} time(s)" if cluster.generation else ""
    lines = [f"cluster: world size {cluster.world_size}, backend {cluster.backend}, engines {config.engines}, "
             f"collective timeout {config.timeout_s:g} s{rebuilt}"]
    dead = cluster.dead_ranks()
    for p in cluster.placements:
        health = supervisor.health[p.rank] if supervisor is not None else None
        state = f"dead ({dead[p.rank]}; the next cell replaces it)" if p.rank in dead else "alive"
        if health is not None and health.replaced:
            state += f", {health.replaced}"
        if health is not None and health.last_error:
            state += f", last error: {health.last_error}"
        lines.append(f"rank {p.rank}: host {p.host}, local rank {p.local_rank}, device {p.device}, {state}")
    return "\n".join(lines)

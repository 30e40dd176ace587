"""Time from "start" to ranks ready to run a cell, against the lightest ways to get there.

    python -m benchmarks.start --ranks 4 --repeats 3

Measured in the same run, medians of --repeats:
- ours: RankCluster.start() of N local CPU ranks (what `%torchtcl cluster start -n N`
  does), and its parts (on_stage marks); restart(); heal() after a rank's engine is killed;
- raw ipyparallel: ipyparallel.Cluster(n=N) started and connected, then
  init_process_group on every engine (what a %%px user writes by hand);
- plain workers: N Python processes that import torch and join a gloo group over TCP,
  reporting "ready" on a pipe (the design of nbdistributed's %dist_init, with no engine
  layer at all); nbdistributed itself when it is installed;
- `torchtcl run examples/scatter_demo.tcl -n N` end to end, against our start plus the
  script's own run time on the running ranks.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from launcher import LaunchConfig, RankCluster
from tcl_magic import remote
from tcl_magic.preload import ENGINE_PRELOAD

DEMO = ROOT / "examples" / "scatter_demo.tcl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ours(ranks: int) -> tuple[float, dict[str, float], float, float, float]:
    """(start, its stages, restart, heal after a kill, the demo's run on ready ranks)."""
    marks: list[tuple[str, float]] = []
    cluster = RankCluster(LaunchConfig(ranks=ranks, backend="gloo", preload=ENGINE_PRELOAD))
    began = time.perf_counter()
    cluster.start(on_stage=lambda what: marks.append((what, time.perf_counter())))
    start = time.perf_counter() - began
    try:
        ends = [at for _, at in marks[1:]] + [began + start]
        stages = {"(before the first stage)": marks[0][1] - began,
                  **{what: end - at for (what, at), end in zip(marks, ends)}}
        began = time.perf_counter()
        cluster.run(remote.run_tcl, DEMO.read_text(), str(DEMO), [], timeout=120)
        script = time.perf_counter() - began
        began = time.perf_counter()
        cluster.restart()
        restart = time.perf_counter() - began
        os.kill(cluster.rank_pids()[ranks - 1], signal.SIGKILL)
        while not cluster.dead_ranks():
            time.sleep(0.01)
        began = time.perf_counter()
        cluster.heal()
        heal = time.perf_counter() - began
    finally:
        cluster.stop()
    return start, stages, restart, heal, script


def _init_rank(rank: int, world: int, port: int) -> int:
    import datetime

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    return dist.get_rank()


def raw_ipyparallel(ranks: int) -> float:
    import ipyparallel as ipp

    began = time.perf_counter()
    cluster = ipp.Cluster(n=ranks, log_level=40)
    client = cluster.start_and_connect_sync()
    try:
        client.wait_for_engines(ranks, timeout=120)
        port = free_port()
        calls = [client[e].apply_async(_init_rank, r, ranks, port) for r, e in enumerate(sorted(client.ids))]
        assert [c.get(timeout=120) for c in calls] == list(range(ranks))
        took = time.perf_counter() - began
    finally:
        client.close()
        cluster.stop_cluster_sync()
    return took


WORKER = textwrap.dedent("""
    import datetime, sys
    import torch.distributed as dist
    rank, world, port = map(int, sys.argv[1:])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    print("ready", flush=True)
    sys.stdin.read()
    dist.destroy_process_group()
""")


def plain_workers(ranks: int) -> float:
    port = free_port()
    began = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(r), str(ranks), str(port)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for r in range(ranks)]
    try:
        assert all(w.stdout.readline().strip() == "ready" for w in workers)
        return time.perf_counter() - began
    finally:
        for w in workers:
            w.stdin.close()
        for w in workers:
            w.wait(60)


def nbdistributed(ranks: int) -> float | None:
    try:
        import nbdistributed  # noqa: F401
    except ImportError:
        return None
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("nbdistributed")
    began = time.perf_counter()
    shell.run_line_magic("dist_init", f"-n {ranks}")
    took = time.perf_counter() - began
    shell.run_line_magic("dist_shutdown", "")
    return took


def torchtcl_run(ranks: int) -> float:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tcl_magic.cli", "run", str(DEMO), "-n", str(ranks),
                           "--backend", "gloo"], capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - began
    assert done.returncode == 0, done.stderr[-2000:]
    return took


def median(values) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    n = options.ranks
    runs = {"ours": [], "raw": [], "plain": [], "nbd": [], "cli": []}
    for _ in range(options.repeats):  # interleaved, so a noisy minute hurts every contender
        runs["ours"].append(ours(n))
        runs["raw"].append(raw_ipyparallel(n))
        runs["plain"].append(plain_workers(n))
        runs["nbd"].append(nbdistributed(n))
        runs["cli"].append(torchtcl_run(n))
    start = median(r[0] for r in runs["ours"])
    print(f"{n} CPU ranks, medians of {options.repeats}, seconds from start to ready:")
    print(f"  RankCluster.start          {start:6.2f}")
    for stage in runs["ours"][0][1]:
        print(f"    {stage:<26} {median(r[1].get(stage, 0.0) for r in runs['ours']):6.2f}")
    print(f"  restart()                  {median(r[2] for r in runs['ours']):6.2f}")
    print(f"  heal() after a SIGKILL     {median(r[3] for r in runs['ours']):6.2f}")
    raw, plain = median(runs["raw"]), median(runs["plain"])
    print(f"  raw ipyparallel + init     {raw:6.2f}")
    print(f"  plain workers + init       {plain:6.2f}")
    nbd = [t for t in runs["nbd"] if t is not None]
    if nbd:
        print(f"  nbdistributed %dist_init   {median(nbd):6.2f}")
    script = median(r[4] for r in runs["ours"])
    cli = median(runs["cli"])
    print(f"  torchtcl run -n {n} (demo)    {cli:6.2f}  (start {start:.2f} + the script on ready ranks {script:.2f}"
          f" = {start + script:.2f}; the rest is the CLI's own Python start and stop)")
    print(f"start ratio (ours / raw ipyparallel + init): {start / raw:.2f}")
    print(f"start ratio (ours / plain workers + init): {start / plain:.2f}")
    if nbd:
        print(f"start ratio (ours / nbdistributed): {start / median(nbd):.2f}")
    print(f"torchtcl run overhead beyond start + script: {cli - start - script:.2f} s")


if __name__ == "__main__":
    main()

"""`torchtcl run -n 4` with a divergent rank: every rank names it, and the run fails."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_script_whose_rank_errors_before_a_collective_fails_naming_it(tmp_path):
    script = tmp_path / "divergent.tcl"
    script.write_text("set t [torch::ones {4}]\nif {[torch::get_rank] == 2} {error boom}\n"
                      "torch::distributed_all_reduce $t sum\nputs unreachable\n")
    done = subprocess.run([sys.executable, "-m", "tcl_magic.cli", "run", str(script), "-n", "4", "--timeout", "30"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 1
    assert "unreachable" not in done.stdout
    lines = done.stderr.splitlines()
    assert "[rank 2] error: boom" in lines
    assert "[ranks 0,1,3] error: not run: rank 2 left the cell with an error before calling " \
           "distributed_all_reduce (its error: boom)" in lines
    assert lines[-1] == "torchtcl: failed on ranks 0-3"

"""The package as a user installs it: `python -m build` makes a wheel, which installs into a
fresh virtual environment (its dependencies from the package index) and runs the demo on
two ranks from that environment's own `torchtcl` command."""
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(1200)
def test_the_built_wheel_installs_in_a_fresh_environment_and_runs_the_demo(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True, text=True)
    wheel, = (tmp_path / "dist").glob("torchtcl-*.whl")
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    done = subprocess.run([str(tmp_path / "env" / "bin" / "torchtcl"), "run", str(ROOT / "examples" / "scatter_demo.tcl"),
                           "-n", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[rank 1] rank 1 of 2 received 5 rows:" in done.stdout
    assert "[rank 0] gathered back on rank 0: shape 10 3, identical to the source: 1" in done.stdout

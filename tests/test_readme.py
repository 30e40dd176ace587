"""The README's two commands are the ones CI and newcomers run."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_main_job_and_the_test_command_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first_block == [
        "python3 -m pip install torch==2.13.0 -e . && torchtcl run examples/scatter_demo.tcl -n 4",
        "python3 -m pip install torch==2.13.0 -e '.[test]' && python3 -m pytest",
    ]
    assert first_block[1] in (ROOT / ".ci" / "run").read_text().splitlines()

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


def test_the_readme_notebook_session_is_what_the_tutorial_really_shows():
    """The cell output quoted in the README is in the tutorial's saved (nbval-checked) outputs."""
    import nbformat

    readme = (ROOT / "README.md").read_text()
    session = readme.split("## In Jupyter", 1)[1].split("```\n", 2)[1]
    shown = [line for line in session.splitlines() if not line.startswith(("In [", "   ...:", "Out["))]
    notebook = nbformat.read(ROOT / "notebooks" / "01_scatter.ipynb", as_version=4)
    saved = "".join((output.get("text", "") + output.get("data", {}).get("text/plain", "")).rstrip("\n") + "\n"
                    for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
    assert len(shown) > 10 and "\n".join(shown) in saved

"""Run a tutorial's cells in a real kernel and save the notebook with their outputs.

The saved outputs are what nbval compares on every test run (`python3 -m pytest`), so a
tutorial's build script (`python notebooks/build_01_scatter.py`, ...) is run again after
changing a cell or the way the magic shows results, and the diff reviewed.
"""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
MD, CODE = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def build(cells: list, filename: str) -> None:
    nb = nbformat.v4.new_notebook(cells=cells)
    # the kernelspec as JupyterLab writes it, so that opening a tutorial changes nothing in it
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                            store_widget_state=False, resources={"metadata": {"path": str(HERE)}})
    client.execute()
    nbformat.write(nb, HERE / filename)

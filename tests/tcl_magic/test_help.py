"""torch::help, Tab completion and Shift-Tab in %%torchtcl cells, driven with real cell text.

examples.json holds the first example of each command's section in docs/commands.md;
`python tests/tcl_magic/test_help.py` writes it again after the page changes.
"""
from __future__ import annotations

import json
import re
import sys
import tkinter
from pathlib import Path

import pytest

from tcl_magic import TclSession
from tcl_magic.commands import TABLE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tcl_magic" / "examples.json"
_TCL = tkinter.Tcl()


def examples_of_the_reference() -> dict[str, str]:
    """Command -> the first complete one-line command of its section's first example that calls it."""
    pages = "\n".join((ROOT / "docs" / page).read_text() for page in ("commands.md", "families.md"))
    sections = re.split(r"^### ", pages, flags=re.M)[1:]
    found = {}
    for spec in TABLE.specs:
        body = next(s for s in sections if re.match(rf"torch::{spec.name}\b", s))
        names = "|".join(re.escape(n) for n in spec.names)
        for block in re.findall(r"```tcl\n(.*?)```", body, flags=re.S):
            lines = [line.strip() for line in block.splitlines()
                     if re.search(rf"torch::(?:{names})(?![\w:])", line)
                     and str(_TCL.call("info", "complete", line)) == "1"]
            if lines:
                found[spec.name] = re.sub(r"\s+;#", "   ;#", lines[0])
                break
    return found


def test_every_command_has_an_example_and_the_file_is_up_to_date():
    expected = examples_of_the_reference()
    assert set(expected) == {s.name for s in TABLE.specs}
    assert json.loads(EXAMPLES.read_text()) == expected, "run: python tests/tcl_magic/test_help.py"


def test_help_on_a_command_gives_usage_parameters_defaults_and_an_example():
    text = TclSession().eval("torch::help tensorAdd").result
    assert text.splitlines()[:3] == ["torch::tensor_add a b ?alpha?", "torch::tensor_add -a TENSOR -b TENSOR|NUMBER ?-alpha NUMBER?",
                                     "also: torch::tensorAdd"]
    assert re.search(r"^  alpha +number +1 +-alpha +multiplies b first$", text, flags=re.M)
    assert re.search(r"^  a +tensor +required +-a -input -input1 -tensor1$", text, flags=re.M)
    assert text.splitlines()[-2:] == ["example:", "  " + json.loads(EXAMPLES.read_text())["tensor_add"]]


@pytest.mark.parametrize("source, start", [
    ("torch::help", "torch:: commands (torch::help NAME for one"),
    ("torch::help torch::distributed_scatter", "torch::distributed_scatter tensor ?src? ?group?"),
    ("torch::help aten::logsumexp", "torch::aten::logsumexp: torch's operator aten::logsumexp"),
    ("torch::help aten::indexSelect", "torch::aten::index_select: torch's operator"),
])
def test_help_finds_every_kind_of_name(source, start):
    assert TclSession().eval(source).result.startswith(start)


@pytest.mark.parametrize("source, message", [
    ("torch::help nosuch", "no command torch::nosuch; torch::help lists them all"),
    ("torch::help aten::nosuch", "torch::aten::nosuch is not an operator torch::aten:: reaches"),
])
def test_help_on_an_unknown_name_says_so(source, message):
    assert TclSession().eval(source).error.message == message


def completions(ip, cell: str) -> list[str]:
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        found = list(ip.Completer.completions(cell, len(cell)))
    return [cell[:c.start] + c.text for c in found]  # the cell as it reads once completed


@pytest.mark.parametrize("cell, expected", [
    ("%%torchtcl\nset x [torch::distributed_sc", ["%%torchtcl\nset x [torch::distributed_scatter"]),
    ("%%torchtcl\ntorch::distributedSc", ["%%torchtcl\ntorch::distributedScatter"]),
    ("%%torchtcl\ntorch::distributed_scatter $data -s", ["%%torchtcl\ntorch::distributed_scatter $data -src"]),
    ("%%torchtcl\nset y [torch::tensor_add $da", ["%%torchtcl\nset y [torch::tensor_add $data"]),
    ("%%torchtcl\nset y [torch::tensor_add [torch::ones 3] -al", ["%%torchtcl\nset y [torch::tensor_add [torch::ones 3] -alpha"]),
    ("%%torchtcl\ntorch::aten::logsum", ["%%torchtcl\ntorch::aten::logsumexp"]),
])
def test_tab_completes_commands_flags_and_tensor_variables(ip, magics, cell, expected):
    ip.run_cell_magic("torchtcl", "--no-table", "set data [torch::ones 3]; set other 5")
    assert completions(ip, cell) == expected


def test_tab_offers_every_flag_and_leaves_python_cells_alone(ip, magics):
    flags = completions(ip, "%%torchtcl\nset y [torch::ones {2 2} -")
    assert {f.rsplit(" ", 1)[1] for f in flags} == {"-shape", "-size", "-dtype", "-device", "-requiresGrad"}
    assert not [c for c in completions(ip, "x = torch") if "torch::" in c]  # Python cells: IPython's own


def test_a_real_kernel_completes_and_inspects_tcl_in_a_cell():
    """Through Jupyter's own messages, as a front end asks (Tab: complete_request,
    Shift-Tab: inspect_request)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive("%load_ext tcl_magic", timeout=120)
        cell = "%%torchtcl\nset t [torch::distributed_sc"
        reply = client.complete(cell, len(cell), reply=True, timeout=60)["content"]
        assert reply["matches"] == ["torch::distributed_scatter"]
        assert cell[reply["cursor_start"]:] == "torch::distributed_sc"
        cell = "%%torchtcl\nset t [torch::distributed_scatter $x 0]"
        reply = client.inspect(cell, cell.index("scatter"), reply=True, timeout=60)["content"]
        assert reply["found"] and reply["data"]["text/plain"].startswith("torch::distributed_scatter tensor ?src? ?group?")
        after_arguments = cell.index(" 0]") + 2  # the cursor among the arguments: still that command's help
        reply = client.inspect(cell, after_arguments, reply=True, timeout=60)["content"]
        assert reply["found"] and reply["data"]["text/plain"].startswith("torch::distributed_scatter tensor ?src? ?group?")
        python = client.inspect("len", 3, reply=True, timeout=60)["content"]  # other cells: IPython's own answer
        assert python["found"] and "Return the number of items" in python["data"]["text/plain"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    EXAMPLES.write_text(json.dumps(examples_of_the_reference(), indent=1, sort_keys=True) + "\n")
    sys.exit(0)

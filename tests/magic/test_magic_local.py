"""%%torchtcl with no cluster: the kernel's own session, a world of one."""
import numpy as np
import pytest
import torch
from IPython.core.error import UsageError

from tcl_magic.cell_values import TclCellError, TclValue


def test_value_of_the_last_command_is_the_result_and_puts_appears_in_order(cell, capsys):
    value = cell("puts one\nputs stderr two\nputs three\nexpr {6 * 7}")
    assert value == "42" and isinstance(value, TclValue)
    captured = capsys.readouterr()
    assert captured.out.startswith("one\nthree\n") and captured.err == "two\n"


def test_state_persists_across_cells_and_an_empty_result_shows_nothing(cell):
    assert cell("set counter 1\nproc bump {} { incr ::counter }") is None
    cell("bump")
    assert cell("set counter") == "2"


def test_the_table_lists_tensor_variables_the_cell_created_as_text(cell, capsys):
    cell("set t [torch::tensor_create -data {1 2 3 4 5 6} -shape {2 3} -dtype float32]")
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["variable  kernel", "t         2x3 Float32 cpu 24 B"]
    cell("set n 5")  # no tensor changed: no table
    assert "variable" not in capsys.readouterr().out
    cell("set n 6", "--show all")
    assert "t         2x3 Float32 cpu 24 B" in capsys.readouterr().out
    cell("set u [torch::tensor_create -data {1 2} -shape {2}]", "--no-table")
    assert "variable" not in capsys.readouterr().out


def test_a_tcl_error_fails_the_cell_with_the_message_and_trace(cell, capsys):
    with pytest.raises(TclCellError) as failure:
        cell("puts before\nproc f {} { error {no such thing} }\nf")
    assert str(failure.value) == "Tcl error: no such thing"
    # what the notebook draws: the message once, then its trace
    assert failure.value._render_traceback_() == [
        "\x1b[0;31mTclCellError\x1b[0m: no such thing", "    while executing", '"error {no such thing} "',
        '    (procedure "f" line 1)', "    invoked from within", '"f"']
    assert capsys.readouterr().out == "before\n"
    assert cell("expr 1") == "1"  # the session goes on


def test_a_failing_cell_is_an_error_for_the_shell(ip, magics):
    result = ip.run_cell("%%torchtcl\nerror boom")
    assert not result.success and isinstance(result.error_in_exec, TclCellError)


def test_exit_with_a_non_zero_status_fails_the_cell(cell):
    with pytest.raises(TclCellError, match="^exit 3$"):
        cell("exit 3")


def test_inputs_and_outputs_cross_both_ways(ip, cell):
    ip.user_ns.update(x=torch.arange(6.0).reshape(2, 3), n=3, rows=[[1, 2], [3, 4]], arr=np.ones(2), name="hi")
    cell("set y [torch::tensor_mul $x $n]\nset s [torch::tensor_shape $rows]\nset z $arr\nset w $name",
         "-i x,n -i rows -i arr -i name -o y -o s,w -o z")
    assert torch.equal(ip.user_ns["y"], torch.arange(6.0).reshape(2, 3) * 3)
    assert ip.user_ns["s"] == "2 2" and ip.user_ns["w"] == "hi"
    assert torch.equal(ip.user_ns["z"], torch.ones(2, dtype=torch.float64))


def test_an_unsupported_input_names_the_direction_and_the_type(ip, cell):
    ip.user_ns["d"] = {"a": 1}
    with pytest.raises(UsageError, match=r"cannot send 'd' of type dict from Python to Tcl \(-i\); supported: "):
        cell("set d", "-i d")
    ip.user_ns["ragged"] = [[1, 2], [3]]
    with pytest.raises(UsageError, match=r"cannot send 'ragged' of type list from Python to Tcl \(-i\) \(not a rectangular list"):
        cell("set ragged", "-i ragged")


def test_user_mistakes_are_usage_errors_that_say_what_to_do(ip, cell):
    with pytest.raises(UsageError, match="there is no Python variable 'missing'; define it first"):
        cell("set a 1", "-i missing")
    with pytest.raises(UsageError, match="rank 0 has no such variable; set it in the cell first"):
        cell("set a 1", "-o nothing")
    with pytest.raises(UsageError, match="--ranks needs a cluster; start one with %torchtcl cluster start -n 4"):
        cell("set a 1", "--ranks 0")
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        cell("set a 1", "--bogus")
    with pytest.raises(UsageError, match="'a-b' is not a variable name"):
        cell("set a 1", "-o a-b")
    with pytest.raises(UsageError, match="invalid choice: 'begin'"):
        ip.run_line_magic("torchtcl", "cluster begin")


def test_the_line_magic_runs_one_line_of_tcl(ip, magics):
    assert ip.run_line_magic("torchtcl", "expr {2 + 3}") == "5"


def test_generated_help_documents_every_option_and_the_cluster_commands(ip):
    doc = ip.find_cell_magic("torchtcl").__doc__
    for option in ("--ranks", "--local", "-i NAME", "-o NAME", "--no-table", "--show", "--stream-after",
                   "--timeout", "%torchtcl cluster", "{start,status,restart,stop}", "--engines", "--backend",
                   "--hosts HOST:N,...", "--address ADDR"):
        assert option in doc


def test_hosts_and_address_are_checked_before_anything_starts(ip, magics):
    with pytest.raises(UsageError, match="hosts= is for engines 'ssh' and 'mpi', not 'local'"):
        ip.run_line_magic("torchtcl", "cluster start --hosts node1:2")
    with pytest.raises(UsageError, match="ranks=3 but hosts={'a': 2, 'b': 2} run 4"):
        ip.run_line_magic("torchtcl", "cluster start -n 3 --engines ssh --hosts a:2,b:2")


def test_status_without_a_cluster_says_how_to_start_one(ip, magics, capsys):
    ip.run_line_magic("torchtcl", "cluster status")
    assert capsys.readouterr().out == ("no cluster: cells run in the kernel (a world of one); "
                                       "start one with %torchtcl cluster start -n 4\n")
    with pytest.raises(UsageError, match="no cluster to stop"):
        ip.run_line_magic("torchtcl", "cluster stop")


def test_tables_are_html_outputs_that_leave_no_widget_in_the_kernel(cell):
    from ipywidgets.widgets.widget import _instances

    before = len(_instances)
    for i in range(30):
        cell(f"set t{i % 3} [torch::ones {{2 {i % 4 + 1}}}]")
    assert len(_instances) == before
    from tcl_magic import display, widgets
    from tcl_magic.results import CellResult, TensorSummary

    results = [CellResult(rank=r, tensors=[TensorSummary("x", "tensor1", (r + 1, 2), "Float32", "cpu", 8)])
               for r in range(2)]
    drawn = widgets.tensor_table_html(display.tensor_table(results))
    assert '<tr class="torchtcl-differs" title="shape differs across ranks">' in drawn
    assert "var(--jp-warn-color1" in widgets.STYLE and "var(--jp-content-font-color1" in widgets.STYLE


def test_long_error_messages_wrap_between_words(cell):
    with pytest.raises(TclCellError) as failure:
        cell("error {" + "averyverylongword " * 12 + "}")
    drawn = failure.value._render_traceback_()
    assert drawn[1].startswith("    averyverylongword")
    assert all(len(line) <= 100 + len("\x1b[0;31mTclCellError\x1b[0m: ") for line in drawn)
    words = " ".join(line.strip() for line in drawn[:3]).split()
    assert words[1:13] == ["averyverylongword"] * 12


def test_the_magics_help_is_plain_text_for_both_forms(ip):
    text = ip.object_inspect_text("%%torchtcl")
    assert "usage: %%torchtcl [--ranks RANKS]" in text and "usage: %torchtcl cluster [-n N]" in text
    assert "--backend {auto,gloo,nccl}" in text
    assert not [line for line in text.splitlines() if line.strip() == "::"]
    assert "%%torchtcl cluster" not in text and "<{" not in text

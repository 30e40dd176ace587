"""TclSession: a real Tcl 8.6, output captured in order, exit guarded, state kept, errors bridged."""
import os
import subprocess
import sys

from tcl_magic import TclSession
from tcl_magic.spec import Param, STRING, command


def test_it_is_a_real_tcl_8_6(tcl):
    assert tcl("info patchlevel").startswith("8.6")
    assert tcl("lsort -integer {10 9 100}") == "9 10 100"
    assert tcl("namespace exists ::torch") == "1"


def test_puts_is_captured_in_order_across_streams_and_procs(session):
    result = session.eval('puts a; puts -nonewline stderr b; proc p {} {puts "c été"}; p; '
                          'puts -nonewline stdout d; flush stdout; chan puts stderr e')
    assert result.output == [("stdout", "a\n"), ("stderr", "b"), ("stdout", "c été\nd"), ("stderr", "e\n")]
    assert result.text("stdout") == "a\nc été\nd"


def test_each_evaluation_has_its_own_output_and_state_persists(session):
    assert session.eval("set x 41; proc inc {v} {expr {$v + 1}}; puts one").text() == "one\n"
    second = session.eval("inc $x")
    assert second.result == "42" and second.output == []


def test_output_is_streamed_to_a_hook_while_the_script_runs(session):
    seen = []
    session.on_output = lambda stream, text: seen.append((stream, text))
    session.eval("puts first; after 10; puts second")
    assert "".join(t for _, t in seen) == "first\nsecond\n"


def test_large_output_does_not_block(session):
    result = session.eval("for {set i 0} {$i < 20000} {incr i} {puts [string repeat x 100]}")
    assert result.error is None and len(result.text()) == 20000 * 101


def test_exit_ends_the_script_not_the_process(session):
    result = session.eval("puts before; exit 3; puts after")
    assert result.exit_code == 3 and result.text() == "before\n" and not result.ok
    assert session.eval("proc f {} {exit}; f").exit_code == 0
    assert session.eval("expr {6 * 7}").result == "42"
    assert session.eval("exit nope").error.message == 'expected integer but got "nope"'


def test_tcl_errors_carry_message_trace_and_code(session):
    result = session.eval("proc outer {} {inner}\nproc inner {} {error boom {} {MY CODE}}\nouter")
    assert result.error.message == "boom"
    assert result.error.code == "MY CODE"
    assert '(procedure "inner" line 1)' in result.error.info
    assert 'invoked from within\n"outer"' in result.error.info
    assert session.eval("break").error.message == 'invoked "break" outside of a loop'


def test_a_bug_in_a_command_is_a_tcl_error_with_the_python_type_and_trace(session):
    @command("broken_for_test", Param("x", STRING))
    def broken(ctx, x):
        return {}["missing " + x]
    session._install(broken.spec)
    result = session.eval("catch {torch::brokenForTest y} msg opts; list $msg [dict get $opts -errorcode]")
    message, code = session.tcl.splitlist(result.result)
    assert message == "torch::broken_for_test: internal error: KeyError: 'missing y'"
    assert code == "TORCH INTERNAL KeyError"
    info = session.eval("catch {torch::broken_for_test y}; set ::errorInfo").result
    assert "Traceback (most recent call last)" in info and "KeyError" in info


def test_tcltest_scripts_run_and_report(session):
    result = session.eval(
        "package require tcltest\nnamespace import tcltest::*\n"
        "test add-1 {adds} -body {torch::tensor_to_list [torch::tensor_add [torch::ones {2}] 1]} -result {2.0 2.0}\n"
        "test add-2 {fails on purpose} -body {expr 1} -result 2\ncleanupTests")
    assert result.error is None
    assert "Total\t2\tPassed\t1\tSkipped\t0\tFailed\t1" in result.text()
    assert "==== add-2 fails on purpose FAILED" in result.text()


def test_tensor_variables_are_summarised(session):
    result = session.eval("set a [torch::zeros {2 3}]; set n 5; set b [torch::ones {4} int64]; array set arr {x 1}")
    summary = {s.variable: s for s in result.tensors}
    assert set(summary) == {"a", "b"}
    assert summary["a"].shape == (2, 3) and summary["a"].dtype == "Float32" and summary["a"].nbytes == 24
    assert summary["b"].dtype == "Int64" and summary["b"].device == "cpu"


def test_handles_are_numbered_the_same_way_in_every_session():
    sources = "set a [torch::ones {2}]; set b [torch::tensor_add $a 1]; list $a $b"
    assert TclSession().eval(sources).result == TclSession().eval(sources).result == "tensor1 tensor2"


def in_a_fresh_python(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a new Python (its own fd 1, its own warning filters) from the repository."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_nothing_reaches_file_descriptor_one():
    done = in_a_fresh_python("from tcl_magic import TclSession\n"
                             "s = TclSession(); r = s.eval('puts hidden; puts stderr alsohidden')\n"
                             "import sys; sys.stdout.write('captured:' + repr(r.text()))\n")
    assert done.stdout == "captured:'hidden\\nalsohidden\\n'"
    assert "hidden" not in done.stderr


def test_a_warning_from_torch_is_the_scripts_stderr_not_a_python_file_line():
    done = in_a_fresh_python("from tcl_magic import TclSession\n"
                             "s = TclSession(); r = s.eval('torch::kl_div_loss [torch::zeros {2 3}] [torch::ones {2 3}]')\n"
                             "import sys; sys.stdout.write(repr(r.error) + '|' + repr(r.output))\n")
    error, output = done.stdout.split("|", 1)
    assert error == "None"
    assert output.startswith("[('stderr', \"warning: reduction: 'mean' divides the total loss")
    assert "UserWarning" not in done.stderr + done.stdout and ".py:" not in done.stderr + done.stdout

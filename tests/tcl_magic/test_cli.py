"""`torchtcl run` end to end, as a user runs it: a real subprocess, real ranks."""
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def torchtcl(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tcl_magic.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def write(tmp_path, source, name="script.tcl"):
    path = tmp_path / name
    path.write_text(source)
    return path


def test_one_rank_runs_in_process_with_argv_and_info_script(tmp_path):
    script = write(tmp_path, 'puts "[torch::get_world_size] $argc [lindex $argv 1] [file tail [info script]]"\n'
                             'puts stderr warn')
    done = torchtcl("run", script, "--", "a", "-b")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1 2 -b script.tcl\n"
    assert done.stderr == "warn\n"


def test_one_rank_error_shows_the_trace_and_fails(tmp_path):
    script = write(tmp_path, "proc load {} {torch::distributed_scatter nosuch}\nputs before\nload\nputs after\n")
    done = torchtcl("run", script)
    assert done.returncode == 1
    assert done.stdout == "before\n"
    assert done.stderr.startswith("error: Invalid tensor handle: nosuch (Invalid tensor name for tensor: Tensor not "
                                  "found)\n    while executing\n")
    assert '(procedure "load" line 1)' in done.stderr
    assert done.stderr.splitlines()[-1] == f'    (file "{script}" line 3)'  # as tclsh says where


@pytest.mark.parametrize("ranks", ["1", "4"])
def test_a_script_that_is_not_complete_tcl_runs_nothing(tmp_path, ranks):
    """Checked before any rank starts: no line of the script runs, tclsh's words and place."""
    script = write(tmp_path, "puts first\nproc f {} {\n    puts inside\n\nf\n")
    done = torchtcl("run", script, "-n", ranks)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (f'error: missing close-brace\n    while executing\n"proc f {{}} {{"\n'
                           f'    (file "{script}" line 2)\n'
                           f"torchtcl: {script} is not complete Tcl: nothing was run\n")


def test_a_terminal_sees_what_the_start_is_doing_and_a_pipe_does_not():
    primary, secondary = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "tcl_magic.cli", "run", "examples/scatter_demo.tcl", "-n", "2"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=secondary) as run:
        os.close(secondary)
        terminal = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            terminal += chunk
        stdout = run.stdout.read().decode()
    os.close(primary)
    assert run.returncode == 0
    shown = terminal.decode()
    assert "\r\x1b[Ktorchtcl: starting 2 ranks: " in shown and "joining the process group" in shown
    assert shown.endswith("\r\x1b[K")  # erased once the ranks are ready
    assert "[rank 1] column sums: 135.0 145.0 155.0" in stdout
    piped = torchtcl("run", "examples/scatter_demo.tcl", "-n", "2")
    assert piped.returncode == 0 and "starting" not in piped.stderr


def test_exit_code_and_tcltest(tmp_path):
    assert torchtcl("run", write(tmp_path, "puts hi; exit 4; puts no")).returncode == 4
    script = write(tmp_path, "package require tcltest\nnamespace import tcltest::*\n"
                             "test scatter-1 {clone in a world of one} -body {\n"
                             "    torch::tensor_to_list [torch::distributed_scatter [torch::ones {2}]]\n"
                             "} -result {1.0 1.0}\ncleanupTests\n", "t.test")
    done = torchtcl("run", script)
    assert done.returncode == 0
    assert "Total\t1\tPassed\t1\tSkipped\t0\tFailed\t0" in done.stdout


def test_usage_mistakes_are_one_line_messages(tmp_path):
    missing = torchtcl("run", tmp_path / "nope.tcl")
    assert missing.returncode == 2 and "cannot read script" in missing.stderr and "Traceback" not in missing.stderr
    zero = torchtcl("run", write(tmp_path, "puts x"), "-n", "0")
    assert zero.returncode == 2 and zero.stderr == "torchtcl: -n must be at least 1, got 0\n"
    # -n 1 beside --hosts is a contradiction, not a quiet 4 (hosts give the count when -n is left out)
    hosts = torchtcl("run", write(tmp_path, "puts x"), "-n", "1", "--engines", "ssh", "--hosts", "a:2,b:2")
    assert hosts.returncode == 2 and "torchtcl: ranks=1 but hosts={'a': 2, 'b': 2} run 4; give ranks=4" in hosts.stderr


def test_a_reader_that_closes_the_pipe_early_ends_the_script_as_tclsh_would(tmp_path):
    script = write(tmp_path, "for {set i 0} {$i < 1000000} {incr i} {puts line$i}\n")
    process = subprocess.Popen([sys.executable, "-m", "tcl_magic.cli", "run", str(script)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "line0\n"
    process.stdout.close()  # as `| head -1` does
    err = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert err.startswith('error: error writing "stdout": broken pipe\n    while executing\n"puts line$i"')
    assert "Traceback" not in err


def test_the_demo_on_four_ranks_prints_each_ranks_chunk():
    done = torchtcl("run", "examples/scatter_demo.tcl", "-n", "4")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    values = [f"{v:.1f}" for v in range(30)]
    expected_rows = {0: values[0:9], 1: values[9:18], 2: values[18:24], 3: values[24:30]}
    for rank, chunk in expected_rows.items():
        rows = len(chunk) // 3
        assert f"[rank {rank}] rank {rank} of 4 received {rows} rows: {' '.join(chunk)}" in lines
        assert f"[rank {rank}] column sums: 135.0 145.0 155.0" in lines
    assert "[rank 0] gathered back on rank 0: shape 10 3, identical to the source: 1" in lines


def test_the_data_parallel_example_trains_one_model_on_two_ranks():
    done = torchtcl("run", "examples/data_parallel.tcl", "-n", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for rank in (0, 1):
        assert f"[rank {rank}] parameters identical on every rank: 1" in lines, done.stdout
        assert any(line.startswith(f"[rank {rank}] step 40: loss on my 32 rows ") for line in lines), done.stdout


def test_an_error_on_one_rank_names_it_and_fails(tmp_path):
    script = write(tmp_path, "puts start\nif {[torch::get_rank] == 1} {error {rank one is unhappy}}\n")
    done = torchtcl("run", script, "-n", "2")
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["[ranks 0,1] start"]
    assert "[rank 1] error: rank one is unhappy" in done.stderr.splitlines()
    assert done.stderr.splitlines()[-1] == "torchtcl: failed on rank 1"


@pytest.mark.parametrize("words", [
    ["{script}", "-n", "1", "--", "a", "-b"],
    ["{script}", "-n", "1", "a", "--", "-b"],
    ["-n", "1", "{script}", "--", "a", "-b"],
    ["{script}", "a", "--", "-b"],
    ["{script}", "--timeout", "5", "a", "--", "-b"],
])
def test_every_documented_order_of_options_and_script_arguments_works(tmp_path, words):
    script = write(tmp_path, 'puts "$argc $argv"')
    done = torchtcl("run", *[str(script) if w == "{script}" else w for w in words])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2 a -b\n"


def test_a_usage_mistake_shows_the_run_usage(tmp_path):
    done = torchtcl("run", write(tmp_path, "puts hi"), "-n", "x")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: torchtcl run ")
    assert done.stderr.splitlines()[-1] == "torchtcl run: error: argument -n/--ranks: invalid int value: 'x'"

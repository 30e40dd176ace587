"""Tensors live while a Tcl value can reach their handle, and are freed after that, with no
tensor_free: at the end of every evaluation, and at the iteration boundaries of loops, where
no command still being assembled can hold what earlier iterations made."""
import gc
import subprocess
import sys
import weakref

import pytest

from tcl_magic import TclSession
from tcl_magic.handles import BOUNDARY_COUNT, SWEEP_BYTES, SWEEP_COUNT, Settled, nbytes

MIB = 1 << 20


def probe(session):
    """A Tcl command `probe` that records (live tensors, their bytes) where it is called."""
    seen = []
    session.tcl.createcommand("probe", lambda: seen.append(
        (len(session.handles), sum(nbytes(t) for _, t in session.handles.tensors()))))
    return seen


@pytest.fixture
def big(session, tcl):
    """`big` makes a 1 MiB tensor: each one ends a run, so the next boundary records it; and
    a sweep is due at every boundary that records one."""
    session.handles.sweep_bytes = 0
    tcl("proc big {} {torch::zeros {262144}}")


def test_a_reassigned_variable_frees_the_old_tensor_at_the_end_of_each_evaluation(session, tcl):
    for _ in range(200):
        tcl("set data [torch::rand {1000}]; set chunk [torch::distributed_scatter $data 0]")
    assert len(session.handles) == 2
    assert tcl("list $data $chunk") == "tensor399 tensor400"  # numbering goes on: deterministic names


def test_a_long_loop_at_top_level_frees_at_its_iteration_boundaries(session, tcl):
    seen = probe(session)
    tcl("for {set i 0} {$i < 5000} {incr i} {set chunk [torch::ones {10}]; probe}")
    # a sweep is due after SWEEP_COUNT new tensors; the next boundary that records a run does it
    assert max(count for count, _ in seen) <= SWEEP_COUNT + BOUNDARY_COUNT + 1
    assert len(session.handles) == 1


def test_a_loop_in_a_proc_frees_while_its_locals_and_the_procs_arguments_survive(session, tcl):
    seen = probe(session)
    result = tcl("""
        proc work {kept n} {
            set mine [torch::full {2} 7.0]
            for {set i 0} {$i < $n} {incr i} {
                set total [torch::tensor_add [torch::ones {2}] [torch::ones {2}]]
                probe
            }
            list [torch::tensor_to_list $kept] [torch::tensor_to_list $mine] [torch::tensor_to_list $total]
        }
        work [torch::full {1} 3.0] 3000
    """)
    assert result == "3.0 {7.0 7.0} {2.0 2.0}"
    assert max(count for count, _ in seen) <= SWEEP_COUNT + BOUNDARY_COUNT + 3


def test_nested_for_while_and_foreach_free_inside_and_keep_what_outer_iterations_hold(session, tcl):
    seen = probe(session)
    result = tcl("""
        proc nested {} {
            set kept {}
            foreach outer {1 2 3 4 5} {
                set mine [torch::full {1} $outer]
                set j 0
                while {$j < 40} {
                    for {set k 0} {$k < 10} {incr k} {set junk [torch::ones {3}]; probe}
                    set more [torch::ones {3}]
                    incr j
                }
                lappend kept $mine
            }
            lmap t $kept {torch::tensor_item $t}
        }
        nested
    """)
    assert result == "1.000000 2.000000 3.000000 4.000000 5.000000"  # tensor_item, the original's way
    assert len(seen) == 2000 and max(count for count, _ in seen) <= SWEEP_COUNT + BOUNDARY_COUNT + 10
    assert tcl("set n 0; foreach a {1 2} {while {$n < 300} {incr n; set t [torch::ones {1}]}}; set n") == "300"


def test_lmap_keeps_every_result_while_loops_inside_its_body_free_their_garbage(session, tcl, big):
    seen = probe(session)
    session.set_variable("numbers", tuple(range(100)))
    squares = tcl("""
        set squares [lmap v $numbers {
            for {set k 0} {$k < 5} {incr k} {set junk [big]; probe}
            torch::full {1} [expr {$v * $v}]
        }]
        lmap h $squares {expr {int([torch::tensor_item $h])}}
    """)
    assert squares == " ".join(str(v * v) for v in range(100))
    assert max(nbytes for _, nbytes in seen) < 10 * MIB  # the 1 MiB tensors of the loops were freed


def test_a_result_waiting_as_a_word_survives_the_sweeps_of_a_loop_in_a_later_word(session, tcl, big):
    seen = probe(session)
    result = tcl("""
        proc churn {} {
            for {set i 0} {$i < 100} {incr i} {set junk [big]; probe}
            torch::ones {3}
        }
        set sum [torch::tensor_add [torch::full {3} 2.0] [churn]]
        set words [list [torch::full {1} 5.0] [foreach x {1 2 3 4 5 6} {set junk [big]}] [churn]]
        list [torch::tensor_to_list $sum] [torch::tensor_item [lindex $words 0]]
    """)
    assert result == "{3.0 3.0 3.0} 5.000000"
    assert max(nbytes for _, nbytes in seen) < 10 * MIB


def test_break_continue_return_and_errors_behave_in_loops_that_free(tcl, big):
    assert tcl("""
        proc first_even_from {start} {
            for {set i $start} {1} {incr i} {
                set t [big]
                if {$i % 2} continue
                return [list $i [torch::tensor_numel $t]]
            }
            return never
        }
        first_even_from 7
    """) == "8 262144"
    assert tcl("set n 0; while 1 {set t [big]; if {[incr n] == 50} break}; set n") == "50"
    assert tcl("""
        set caught [catch {
            foreach x {1 2 3} {
                set t [big]
                if {$x == 2} {error "stop at $x" {} {MY CODE}}
            }
        } msg opts]
        list $caught $msg [dict get $opts -errorcode] $x
    """) == "1 {stop at 2} {MY CODE} 2"
    assert tcl("""
        proc inner {} {for {set i 0} {$i < 5} {incr i} {if {$i == 3} {return -code break}}}
        set n 0
        while 1 {incr n; set t [big]; inner}
        set n
    """) == "1"
    assert tcl("proc up {} {foreach v {a b} {uplevel 1 [list lappend seen $v]}}; set seen {}; up; set seen") == "a b"


def test_an_error_in_a_loop_body_says_where_as_tcl_does(session):
    result = session.eval("proc h {} {\n    set a 1\n    for {set i 0} {$i < 3} {incr i} {\n"
                          "        # a comment\n        error boom\n    }\n}\nh")
    assert result.error.message == "boom"
    assert result.error.info == ('boom\n    while executing\n"error boom"\n    ("for" body line 3)\n'
                                 '    invoked from within\n"for {set i 0} {$i < 3} {incr i} {\n'
                                 '        # a comment\n        error boom\n    }"\n    (procedure "h" line 3)\n'
                                 '    invoked from within\n"h"')
    assert session.eval("while {$nosuch} {}").error.info == (
        'can\'t read "nosuch": no such variable\n    while executing\n"while {$nosuch} {}"')
    info = session.eval("foreach x {1 2} {\n    torch::tensor_numel nope\n}").error.info
    assert info.startswith('Invalid tensor handle: nope (Invalid tensor name for tensor: Tensor not found)\n'
                           '    while executing\n"torch::tensor_numel nope"\n    ("foreach" body line 2)\n')


@pytest.mark.parametrize("words, usage", [
    ("for {set i 0} {$i < 3}", "for start test next command"),
    ("while 1", "while test command"),
    ("foreach x", "foreach varList list ?varList list ...? command"),
    ("foreach x {1 2} y {3}", "foreach varList list ?varList list ...? command"),
])
def test_a_loop_with_the_wrong_number_of_words_is_tcls_own_error(session, words, usage):
    result = session.eval(words)
    assert result.error.message == f'wrong # args: should be "{usage}"'
    assert result.error.code == "TCL WRONGARGS"


def test_memory_inside_a_loop_over_a_large_tensor_stays_near_what_the_script_reaches(session, tcl):
    seen = probe(session)
    chunk = 50_000_000  # bytes: 12.5M float32
    tcl("set data [torch::zeros {12500000}]\n"
        "for {set i 0} {$i < 40} {incr i} {set chunk [torch::tensor_add $data $data]; probe}")
    reachable = 2 * chunk  # $data and $chunk
    # a sweep waits for the budget (at least what survived the last one) to be made, plus one tensor
    assert max(nbytes for _, nbytes in seen) <= reachable + max(SWEEP_BYTES, reachable) + chunk
    assert len(session.handles) == 2


def test_settled_runs_merge_and_cover_exactly_their_numbers():
    settled = Settled()
    settled.add(5, 10)
    settled.add(20, 30)
    assert [n for n in range(35) if settled.covers(n)] == [*range(6, 11), *range(21, 31)]
    settled.add(8, 40)  # an outer loop's boundary: it reaches the runs after its mark
    assert [n for n in range(45) if settled.covers(n)] == list(range(6, 41))


_OUT_OF_MEMORY = """
import resource, sys
import torch
torch.set_num_threads(1)
from tcl_magic import TclSession
from tcl_magic.commands import tensors

session = TclSession()
session.handles.sweep_bytes = session.handles.sweep_count = 1 << 60  # only running out of memory frees
tensors.full.spec.once = {once}
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + (400 << 20), resource.RLIM_INFINITY))
result = session.eval("{script}")
print(result.result if result.error is None else "ERROR " + result.error.code + ": " + result.error.info)
"""
_REASSIGN = "for {set i 0} {$i < 20} {incr i} {set t [torch::full {25000000} 1.0]}; torch::tensor_numel $t"


def out_of_memory_run(script: str, once: bool = False) -> str:
    done = subprocess.run([sys.executable, "-c", _OUT_OF_MEMORY.format(script=script, once=once)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and limits the address space")
def test_out_of_memory_frees_what_earlier_iterations_made_and_retries_once():
    # 100 MB tensors under a limit of 400 MB more than the process had: without freeing, the
    # fourth fails
    assert out_of_memory_run(_REASSIGN) == "25000000"
    failed = out_of_memory_run(_REASSIGN, once=True)  # no second call: no sweep either
    assert failed.startswith("ERROR TORCH MEMORY: torch::full: out of memory: could not allocate 95.4 MiB "
                             "(100000000 bytes) in this process's memory\n"), failed
    for noise in ("internal error", "Traceback", "enforce fail", ".cpp"):
        assert noise not in failed
    too_big = out_of_memory_run("torch::full {1000000000} 1.0")
    assert too_big.startswith("ERROR TORCH MEMORY: torch::full: out of memory: could not allocate 3.7 GiB "
                              "(4000000000 bytes) in this process's memory; freeing every tensor that nothing "
                              "reaches did not make room\n"), too_big


def test_a_freed_handle_is_an_error_and_tensor_free_still_frees_at_once(session, tcl, tcl_error):
    tcl("set t [torch::ones {2}]; set name $t; unset t")
    assert tcl("set name") == "tensor1"  # the name is still in a variable: it still lives
    tcl("set keep [torch::ones {1}]; torch::tensor_free $keep")
    assert tcl_error("torch::tensor_numel $keep").startswith("Invalid tensor handle: tensor2 ")


def test_every_place_a_value_can_live_keeps_its_tensor(session, tcl):
    tcl("""
        set plain [torch::ones {1}]
        set arr(x) [torch::ones {2}]
        set lst [list a [torch::ones {3}] b]
        set d [dict create k [torch::ones {4}]]
        namespace eval ::ns { variable kept [torch::ones {5}] }
        torch::ones {6}
    """)
    assert tcl("lmap v [list $plain $arr(x) [lindex $lst 1] [dict get $d k] $::ns::kept $::torch::_impl::result] "
               "{torch::tensor_numel $v}") == "1 2 3 4 5 6"
    tcl("unset plain arr lst d ::ns::kept v")
    tcl("set unrelated 1")
    assert len(session.handles) == 0


def test_closing_a_session_releases_the_interpreter_and_its_tensors():
    session = TclSession()
    session.eval("set big [torch::zeros {1000000}]")
    tensor = weakref.ref(session.handles.get("tensor1"))
    whole = weakref.ref(session)
    session.close()
    del session
    gc.collect()
    assert tensor() is None and whole() is None

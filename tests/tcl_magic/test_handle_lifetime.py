"""Tensors live while a Tcl value can reach their handle, and are freed after that, with no
tensor_free: at the end of every evaluation, and in the middle of long loops."""
import gc
import weakref

from tcl_magic import TclSession
from tcl_magic.handles import FIRST_SWEEP_AT


def test_a_reassigned_variable_frees_the_old_tensor_at_the_end_of_each_evaluation(session, tcl):
    for _ in range(200):
        tcl("set data [torch::rand {1000}]; set chunk [torch::distributed_scatter $data 0]")
    assert len(session.handles) == 2
    assert tcl("list $data $chunk") == "tensor399 tensor400"  # numbering goes on: deterministic names


def test_a_long_loop_stays_bounded_while_it_runs(session, tcl):
    peak = []
    session.tcl.createcommand("live", lambda: peak.append(len(session.handles)))
    tcl("for {set i 0} {$i < 5000} {incr i} {set chunk [torch::ones {10}]; live}")
    assert max(peak) <= 2 * FIRST_SWEEP_AT
    assert len(session.handles) == 1


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


def test_a_running_procs_locals_and_nested_arguments_survive_a_sweep_mid_loop(session, tcl):
    result = tcl("""
        proc work {n} {
            set mine [torch::full {2} 7.0]
            for {set i 0} {$i < $n} {incr i} {
                set total [torch::tensor_add [torch::ones {2}] [torch::ones {2}]]
            }
            list [torch::tensor_to_list $mine] [torch::tensor_to_list $total]
        }
        work 3000
    """)
    assert result == "{7.0 7.0} {2.0 2.0}"


def test_a_freed_handle_is_an_error_and_tensor_free_still_frees_at_once(session, tcl, tcl_error):
    tcl("set t [torch::ones {2}]; set name $t; unset t")
    assert tcl("set name") == "tensor1"  # the name is still in a variable: it still lives
    tcl("set keep [torch::ones {1}]; torch::tensor_free $keep")
    assert tcl_error("torch::tensor_numel $keep") == "Invalid tensor handle: tensor2"


def test_closing_a_session_releases_the_interpreter_and_its_tensors():
    session = TclSession()
    session.eval("set big [torch::zeros {1000000}]")
    tensor = weakref.ref(session.handles.get("tensor1"))
    whole = weakref.ref(session)
    session.close()
    del session
    gc.collect()
    assert tensor() is None and whole() is None

"""The Tcl side of a session, as source evaluated in every new interpreter: the channel
transforms that capture `puts`, the `exit` guard, the walk over every value a handle can
live in (what a sweep keeps), and the loops (for, while, foreach) wrapped so that their
iterations are boundaries where a sweep may free what earlier iterations made.
"""
from __future__ import annotations

LOOPS = {
    "for": ("start test next command", "[llength $args] != 4"),
    "while": ("test command", "[llength $args] != 2"),
    "foreach": ("varList list ?varList list ...? command", "[llength $args] < 3 || [llength $args] % 2 == 0"),
}
"""The loops whose iterations are boundaries where a sweep may free handles: Tcl's usage of
each, and the test for a wrong number of words."""

SETUP = r"""
namespace eval ::torch { namespace eval _impl {} }
proc ::torch::_impl::_transform {chan op args} {
    # a failure to pass output on (a closed pipe) comes back marked: an error as tclsh says it
    set answer [::torch::_impl::_capture $chan $op {*}$args]
    if {[string index $answer 0] eq "\0"} {return -code error [string range $answer 1 end]}
    return $answer
}
foreach ::torch::_chan {stdout stderr} {
    chan configure $::torch::_chan -buffering none -encoding utf-8 -translation lf
    chan push $::torch::_chan [list ::torch::_impl::_transform $::torch::_chan]
}
unset ::torch::_chan
catch {rename ::exit {}}
proc ::torch::_impl::values {} {
    # every value a handle can live in, as one text: variables of every namespace (arrays
    # too; not Tcl's own ::tcl and ::oo), and the locals of every running proc
    set found {}
    set namespaces {::}
    while {[llength $namespaces]} {
        set ns [lindex $namespaces end]
        set namespaces [lreplace $namespaces end end {*}[lsearch -all -inline -not -regexp \
            [namespace children $ns] {^::(tcl|oo)(::|$)}]]
        foreach name [info vars [string trimright $ns :]::*] {
            if {$name in {::errorInfo ::errorCode ::env ::torch::_impl::loops}} continue
            if {[array exists $name]} {
                lappend found [array get $name]
            } elseif {[info exists $name]} {
                lappend found [set $name]
            }
        }
    }
    for {set level [expr {[info level] - 1}]} {$level > 0} {incr level -1} {
        foreach name [uplevel #$level {info locals}] {
            if {[uplevel #$level [list array exists $name]]} {
                lappend found [uplevel #$level [list array get $name]]
            } elseif {[uplevel #$level [list info exists $name]]} {
                lappend found [uplevel #$level [list set $name]]
            }
        }
    }
    join $found \n
}
proc ::torch::_impl::tensor_vars {} {
    # name and value of every global scalar whose value may be a tensor handle
    set found {}
    foreach name [info vars ::*] {
        if {![array exists $name] && [info exists $name] && [string match tensor* [set $name]]} {
            lappend found [string range $name 2 end] [set $name]
        }
    }
    return $found
}
proc ::torch::_impl::held {value} {
    foreach name [info vars ::*] {
        if {![array exists $name] && [info exists $name] && [set $name] eq $value} {return 1}
    }
    return 0
}
set ::torch::_impl::due 0
proc ::torch::_impl::boundary {mark} {
    # an iteration of a loop entered when tensor $mark was the newest begins: what the loop
    # made since is settled; sweep from here if one is due (Tcl sees every proc's locals here)
    if {[::torch::_impl::_settle $mark]} {::torch::_impl::_free [::torch::_impl::values]}
}
proc ::torch::_impl::release {} {
    # a command ran out of memory: free what nothing reaches in the settled runs, then retry
    ::torch::_impl::_release [::torch::_impl::values]
}
proc ::torch::_impl::loop_script {key name mark words} {
    # the builtin loop on these words, each iteration beginning with a boundary check on the
    # body's first line (error lines stay); kept by the loop procs (a few hundred at most),
    # so that Tcl compiles a loop once while no tensor is made between two entries
    if {[array size ::torch::_impl::loops] >= 256} {array unset ::torch::_impl::loops}
    set body "if {\$::torch::_impl::due > $mark} {::torch::_impl::boundary $mark};[lindex $words end]"
    set ::torch::_impl::loops($key) "[list ::torch::_impl::$name {*}[lrange $words 0 end-1] $body]\n"
}
proc ::torch::_impl::loop_error {name words options} {
    # the traceback as Tcl gives it for a loop it runs as a command, without this layer:
    # the loop's own words are the caller's to add
    if {![regexp {^(.*)\n    \("uplevel" body line (\d+)\)\n    invoked from within\n"uplevel 1 [^\n]*"$} \
            [dict get $options -errorinfo] -> info line]} {
        return $options
    }
    set builtin [string last "\n    invoked from within\n\"::torch::_impl::$name " $info]
    if {$builtin >= 0} {
        # not compiled inline: the builtin said where in its body
        return [dict replace $options -errorinfo [string range $info 0 $builtin-1]]
    }
    if {[string first "\n    while executing\n\"::torch::_impl::$name " $info] >= 0} {
        return [dict remove $options -errorinfo]; # the loop's test failed: the caller says where
    }
    set line [expr {$line - [regexp -all {\n} [list $name {*}[lrange $words 0 end-1]]]}]
    dict replace $options -errorinfo "$info\n    (\"$name\" body line $line)"
}
proc ::exit {{code 0}} {
    if {![string is integer -strict $code]} {
        return -code error "expected integer but got \"$code\""
    }
    return -code error -errorcode [list TORCHTCL EXIT $code] "exit $code"
}
"""


_LOOP_PROC = """rename ::@NAME@ ::torch::_impl::@NAME@
proc ::@NAME@ args {
    if {@WRONG@} {
        return -code error -errorcode {TCL WRONGARGS} {wrong # args: should be "@NAME@ @USAGE@"}
    }
    set mark [::torch::_impl::_mark]
    set key "$mark @NAME@ $args"
    if {![info exists ::torch::_impl::loops($key)]} {::torch::_impl::loop_script $key @NAME@ $mark $args}
    set code [catch {uplevel 1 $::torch::_impl::loops($key)} result options]
    if {$code == 0 && $::torch::_impl::due > $mark} {::torch::_impl::boundary $mark}
    if {$code == 1} {set options [::torch::_impl::loop_error @NAME@ $args $options]}
    dict incr options -level
    return -options $options $result
}"""


def loop_procs() -> str:
    """Each loop of LOOPS renamed into ::torch::_impl (where this package's own procs find
    it), and in its place a proc that checks the words with Tcl's own message, then runs the
    builtin in the caller's frame with a boundary at every iteration (`loop_script`). Code,
    result and options pass through one level up: return, break and error act as before."""
    return "\n".join(_LOOP_PROC.replace("@NAME@", name).replace("@USAGE@", usage).replace("@WRONG@", wrong)
                      for name, (usage, wrong) in LOOPS.items())

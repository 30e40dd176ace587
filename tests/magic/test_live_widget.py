"""The live view of a long cell in Jupyter: one row per rank, waiting ranks marked, the
board's words kept (escaped: group names are the user's), and a fixed text form."""
from tcl_magic.live_widget import TEXT, LiveStatus, status_html

LINES = ["rank 0: waiting in distributed_barrier of group \"<b>\" (ranks 0,3) for 2.0 s; not arrived: rank 3 (running Tcl)",
         "rank 3: running Tcl"]


def test_each_rank_is_a_row_and_a_waiting_rank_is_marked():
    drawn = status_html(LINES)
    assert drawn.count("<tr>") == 2 and "<caption>still running</caption>" in drawn
    assert '<td>rank 0</td><td class="torchtcl-waiting">waiting in distributed_barrier of group &quot;&lt;b&gt;&quot;' \
        in drawn
    assert "<td>rank 3</td><td>running Tcl</td>" in drawn


def test_the_widget_holds_the_lines_and_closes():
    status = LiveStatus()
    status.show(LINES)  # no front end here: the display goes to IPython's text form
    assert status.widget.value == status_html(LINES) and TEXT == "still running ..."
    status.close()
    assert status.widget.comm is None

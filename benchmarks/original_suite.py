"""The original C++ extension's own test suite, run with this engine: how much of its
vocabulary and behaviour a script written for it finds here.

    git clone https://github.com/vicmay/TCLIBTORCH
    python -m benchmarks.original_suite --suite TCLIBTORCH/tests/refactored [--docs TCLIBTORCH/docs/refactored]
                                        [--jobs 2] [--only NAME ...] [--json results.json]

Each `*_test.tcl` runs unchanged but for the command that loads the C++ library (its
`load ...libtorchtcl...` and the `if {[catch {load ...}]} {...}` around it), in a fresh
process of its own (forked from this one, so a crash or a hang fails that file only) with a
TclSession, as `torchtcl run` runs a script. A tcltest file's count is its own summary
(`Total N Passed P Skipped S Failed F`); a file that stops before it counts its `test`
commands, and the ones it reported passed; a plain script counts as one test, passed when
it ends without an error or a non-zero exit. The suite is another project's code: it is
read from where you cloned it, never copied here.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SUMMARY = re.compile(r"Total\s+(\d+)\s+Passed\s+(\d+)\s+Skipped\s+(\d+)\s+Failed\s+(\d+)")
TEST_COMMAND = re.compile(r"^\s*(?:::)?(?:tcltest::)?test\s+\S+\s+[{\"]", re.M)
FAILED = re.compile(r"^==== (\S+) (.*?) FAILED$", re.M)
PASSED = re.compile(r"^\+\+\+\+ (\S+) PASSED$", re.M)
DOC_TITLE = re.compile(r"^#\s+`?torch::(\w+)", re.M)


@dataclass
class FileResult:
    file: str
    total: int
    passed: int
    skipped: int = 0
    failed: int = 0
    summary: bool = True  # tcltest printed its own summary
    error: str = ""  # why the file stopped early (its error, exit status, timeout)
    failures: dict[str, str] = field(default_factory=dict)  # test name -> the first line of why
    bodies: dict[str, str] = field(default_factory=dict)  # a failing test's name -> its source, to classify it


def strip_loader(source: str) -> str:
    """The script without the command(s) that load the C++ library: each one starts on a
    line that mentions libtorchtcl and a load, and ends where Tcl says the command is complete."""
    import tkinter
    interp = tkinter.Tcl()
    lines, kept, i = source.split("\n"), [], 0
    while i < len(lines):
        if "libtorchtcl" in lines[i] and re.search(r"\bload\b", lines[i]):
            j = i
            while j + 1 < len(lines) and not interp.call("info", "complete", "\n".join(lines[i:j + 1]) + "\n"):
                j += 1
            kept.append("")  # keep the line numbers of what follows in tcltest's messages
            kept.extend("" for _ in range(j - i))
            i = j + 1
            continue
        kept.append(lines[i])
        i += 1
    return "\n".join(kept)


def _run_in_child(path: str, source: str, log: str, pipe) -> None:
    """Runs in the forked process: one TclSession, as `torchtcl run` gives a script; what it
    prints goes to `log` as it comes, so a file that hangs still shows what passed."""
    import torch
    torch.set_num_threads(1)
    from tcl_magic import TclSession
    os.chdir(os.path.dirname(path))
    with open(log, "w", encoding="utf-8", errors="replace") as out:
        def write(stream: str, text: str) -> None:
            out.write(text)
            out.flush()
        session = TclSession(on_output=write)
        session.set_script_args(path, [])
        result = session.eval(source, script_name=path)
    error = ""
    if result.error is not None:
        error = result.error.message
    elif result.exit_code:
        error = f"exit {result.exit_code}"
    pipe.send(error)
    pipe.close()


def run_file(path: Path, timeout: float) -> FileResult:
    """One test file in a fresh process, its count parsed from what it printed."""
    source = path.read_text(encoding="utf-8", errors="surrogateescape")
    stripped = strip_loader(source)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    with tempfile.NamedTemporaryFile(suffix=".out") as log:
        child = context.Process(target=_run_in_child, args=(str(path.resolve()), stripped, log.name, send),
                                daemon=True)
        child.start()
        send.close()
        error = ""
        if receive.poll(timeout):
            try:
                error = receive.recv()
            except EOFError:
                error = "the process died"
        else:
            error = f"timed out after {timeout:.0f} s"
        child.kill()
        child.join()
        output = Path(log.name).read_text(encoding="utf-8", errors="replace")
    result = parse(path.name, source, output, error)
    bodies = test_bodies(source)
    result.bodies = {name: bodies.get(name, "")[:3000] for name in result.failures}
    return result


def parse(name: str, source: str, output: str, error: str) -> FileResult:
    failures = {m.group(1): _reason(output, m.end()) for m in FAILED.finditer(output)}
    summary = SUMMARY.search(output)
    if summary:
        total, passed, skipped, failed = map(int, summary.groups())
        return FileResult(name, total, passed, skipped, failed, True, error, failures)
    declared = len(TEST_COMMAND.findall(source))
    if declared:
        passed = len(set(PASSED.findall(output)))
        return FileResult(name, declared, passed, 0, declared - passed, False, error or "no tcltest summary",
                          failures)
    ok = not error
    return FileResult(name, 1, int(ok), 0, int(not ok), False, error, {} if ok else {name: error})


def _reason(output: str, start: int) -> str:
    """The first line that says why a test failed (its error, or what it returned)."""
    block = output[start:start + 2000].split("\n==== ", 1)[0]
    for marker in ("---- errorInfo: ", "---- Result was:\n", "---- Test generated error;"):
        at = block.find(marker)
        if at >= 0:
            text = block[at + len(marker):].strip().split("\n")[0]
            return text[:200]
    return block.strip().split("\n")[0][:200]


def documented_commands(docs: Path) -> list[str]:
    names: set[str] = set()
    for page in docs.glob("*.md"):
        names.update(DOC_TITLE.findall(page.read_text(encoding="utf-8", errors="replace")))
    return sorted(names)


def existing_commands() -> set[str]:
    from tcl_magic import TclSession
    session = TclSession()
    return {name.removeprefix("::").removeprefix("torch::")
            for name in session.tcl.splitlist(session.tcl.eval("info commands ::torch::*"))}


def run_suite(suite: Path, only: list[str], jobs: int, timeout: float) -> list[FileResult]:
    files = sorted(suite.glob("*_test.tcl"))
    if only:
        files = [f for f in files if f.name.removesuffix("_test.tcl") in only or f.name in only]
    from concurrent.futures import ThreadPoolExecutor
    import tcl_magic.session  # noqa: F401 - imported once here, so that every forked child starts warm
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda f: run_file(f, timeout), files))


def report(results: list[FileResult], documented: list[str], existing: set[str]) -> dict:
    total = sum(r.total for r in results)
    passed = sum(r.passed for r in results)
    full = sum(1 for r in results if r.total and r.passed == r.total and not r.error)
    for r in results:
        note = f"  ({r.error[:100]})" if r.error else ""
        print(f"{r.file:48s} {r.passed:4d} / {r.total:4d}{note}")
    print(f"\ntests passed: {passed} of {total} ({100 * passed / max(total, 1):.1f}%)")
    print(f"files fully passing: {full} of {len(results)}")
    found = [name for name in documented if name in existing]
    if documented:
        print(f"documented commands that exist: {len(found)} of {len(documented)} "
              f"({100 * len(found) / len(documented):.1f}%)")
        missing = [name for name in documented if name not in existing]
        if missing:
            print("missing: " + " ".join(missing))
    return {"tests": total, "passed": passed, "files": len(results), "files_fully_passing": full,
            "documented": len(documented), "documented_existing": len(found),
            "missing_commands": [name for name in documented if name not in existing],
            "results": [asdict(r) for r in results]}


REASONS = [  # (why, does it apply: the first line of the failure, the test's own source)
    ("command not provided here yet", lambda why, body: why.startswith("invalid command name")),
    ("needs CUDA: this machine has none, and the CUDA commands say so rather than invent figures",
     lambda why, body: "CUDA not available" in why or re.search(r"cuda|gpu", body, re.I) is not None),
    ("asserts the original's simulated collectives and transfers in a world of one (a send to oneself, a "
     "second init, a peer that does not exist), which torch.distributed rightly refuses",
     lambda why, body: re.search(r"needs a peer|already rank|work handle|master_addr|process group|distributed",
                                 why + body) is not None),
    ("calls a function by a name the test never defines (the original ignored it and answered a fixed "
     "value); here the named Tcl command is called",
     lambda why, body: "is not a Tcl command" in why or re.search(r"dummy_func|test_func|\"func\"", body) is not None),
    ("reads a variable the test file never sets (it stops there)",
     lambda why, body: re.match(r"can't read \"\w+\": no such variable", why) is not None),
    ("checks the original's exact text of an error (the whole message compared, or a phrase of one command's "
     "own message) where ours is the contract's, which carries the original's common phrases (`Usage:`, "
     "`wrong # args`, `Invalid tensor name`, `Named parameters must come in pairs`) but not every command's "
     "own sentence; or expects an error where torch accepts the value",
     lambda why, body: re.search(r"catch|-returnCodes error|Invalid .*(handle|parameter)|Wrong number|Unknown "
                                 r"parameter|Missing value|Required param", why + body) is not None),
    ("expects the original's own representation of a value (its return text, its dtype or shape of a "
     "simulated result, the same handle back) where torch's real one differs", lambda why, body: True),
]


def reason_of(why: str, body: str) -> str:
    return next(reason for reason, applies in REASONS if applies(why, body))


def test_bodies(source: str) -> dict[str, str]:
    """Each tcltest test's name -> its source text, to tell why it failed."""
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\s*(?:::)?(?:tcltest::)?test\s+(\S+)", source, re.M)]
    return {name: source[at:(starts[i + 1][0] if i + 1 < len(starts) else len(source))]
            for i, (at, name) in enumerate(starts)}


def compat_page(summary: dict) -> str:
    """docs/compat.md: the totals, each file's count, and each failing test with the first
    line of why (its error, or what it returned where the test expected something else)."""
    pct = 100 * summary["passed"] / max(summary["tests"], 1)
    lines = ["# The original's test suite, run here", "",
             f"{summary['passed']} of {summary['tests']} tests pass ({pct:.1f}%); {summary['files_fully_passing']} "
             f"of {summary['files']} files pass completely; {summary['documented_existing']} of "
             f"{summary['documented']} documented commands exist.", "",
             "Written by `python -m benchmarks.original_suite --suite DIR --compat docs/compat.md` from a clone "
             "of https://github.com/vicmay/TCLIBTORCH (`tests/refactored`).", "",
             "The failures fall in a few kinds, each named in the list below by its first line: the "
             "original's exact error sentences (ours carry its common phrases, `Usage:`, `wrong # args`, "
             "`Invalid tensor name`, but not every command's own sentence, and a test that compares a whole "
             "message fails on any difference); behaviour the original simulated (a collective or a transfer "
             "in a world of one, CUDA on a machine without it, a function named but never defined), where "
             "ours is the real one; and values where torch's answer differs from the original's.", "",
             "| file | passed | total | stopped by |", "|---|---|---|---|"]
    results = summary["results"]
    lines += [f"| {r['file']} | {r['passed']} | {r['total']} | {r['error'][:80].replace('|', '/')} |" for r in results]
    grouped: dict[str, list[str]] = {reason: [] for reason, _ in REASONS}
    for r in results:
        bodies = r.get("bodies", {})
        for test, why in r["failures"].items():
            grouped[reason_of(why, bodies.get(test, ""))].append(f"- `{test}`: {why[:160].replace('|', '/')}")
        unlisted = r["total"] - r["passed"] - len(r["failures"])
        if unlisted > 0:  # a file that stopped before its tests reported: its error is why
            grouped[reason_of(r["error"], r["error"])].append(
                f"- `{r['file']}` ({unlisted} tests not reached): stopped by {r['error'][:140].replace('|', '/')}")
    lines += ["", "## Failing tests, by why", ""]
    for reason, tests in grouped.items():
        if tests:
            lines += [f"### {reason} ({len(tests)})", "", *tests, ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", type=Path, required=True, help="the original's tests/refactored folder")
    parser.add_argument("--docs", type=Path, help="its docs/refactored folder (default: ../../docs/refactored)")
    parser.add_argument("--only", nargs="*", default=[], help="command names (or file names) to run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file")
    parser.add_argument("--json", type=Path, help="write the per-file results here")
    parser.add_argument("--compat", type=Path, help="write the compatibility page (docs/compat.md) here")
    options = parser.parse_args(argv)
    docs = options.docs or options.suite.resolve().parent.parent / "docs" / "refactored"
    started = time.monotonic()
    results = run_suite(options.suite, options.only, options.jobs, options.timeout)
    summary = report(results, documented_commands(docs) if docs.is_dir() else [], existing_commands())
    print(f"({time.monotonic() - started:.0f} s)")
    if options.json:
        options.json.write_text(json.dumps(summary, indent=1) + "\n")
    if options.compat:
        options.compat.write_text(compat_page(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

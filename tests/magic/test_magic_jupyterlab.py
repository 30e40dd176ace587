"""The tutorial in a real JupyterLab with the torchtcl extension, in headless Chromium: open
it unchanged, see %%torchtcl cells edited as Tcl, run all on 4 real ranks, use the cells'
views (rank tabs, the table, the timeline of collectives), read them in the light and the
dark theme, and see the saved views again after a reload, without running anything.

Needs Debian's chromium and chromium-driver (`.ci/run` installs them); when they are
missing the test fails saying how to get them. The extension is the one built into
tcl_magic/labextension (served through JUPYTER_PATH, as an installed package serves it).
The screenshots are kept in artifacts/: jupyterlab_01_scatter.png (light), ..._dark.png,
..._reloaded.png and jupyterlab_view.png (one cell's view alone).
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACT = ROOT / "artifacts" / "jupyterlab_01_scatter.png"


def ensure_chromium() -> None:
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    pytest.fail("this test needs Debian's chromium and chromium-driver (.ci/run installs them): "
                "apt-get install -y chromium chromium-driver")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on localhost serving a copy of the tutorial; stopped with its kernels."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_scatter.ipynb", work)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    extensions = tmp_path / "jupyter" / "labextensions"
    extensions.mkdir(parents=True)
    (extensions / "torchtcl").symlink_to(ROOT / "tcl_magic" / "labextension")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTER_PATH=os.pathsep.join([str(tmp_path / "jupyter"), os.environ.get("JUPYTER_PATH", "")]),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--ServerApp.port_retries=0"] + (["--allow-root"] if os.geteuid() == 0 else []),
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {(tmp_path / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.1)
        yield base, token, server
    finally:
        stop_with_descendants(server)


def stop_with_descendants(server: subprocess.Popen) -> None:
    """SIGTERM the server (it shuts its kernels down, which stop their ranks); kill what is left."""
    try:
        family = psutil.Process(server.pid).children(recursive=True)
    except psutil.Error:
        family = []
    server.terminate()
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
    gone, alive = psutil.wait_procs(family, timeout=60)
    for process in alive:
        process.kill()
    assert not alive, f"processes left behind by the kernel: {[p.pid for p in alive]}"


@pytest.fixture
def browser():
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(flag)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-profile-{secrets.token_hex(4)}"
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script: str, what: str, timeout_s: float = 180):
    """Poll a JavaScript expression until it is truthy; fail naming what never appeared."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        driver.execute_script(ACCEPT_DIALOG)
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.25)
    driver.save_screenshot(str(ARTIFACT))
    pytest.fail(f"{what} did not appear in JupyterLab (screenshot: {ARTIFACT})")


ACCEPT_DIALOG = """
const button = document.querySelector('.jp-Dialog .jp-Dialog-button.jp-mod-accept');
if (button) button.click();  // "Select Kernel" offers the notebook's python3
"""

FIRST_TABLE = """
const picture = document.querySelector('.jp-OutputArea .torchtcl-scatter');
const grid = picture && picture.parentElement.querySelector('.torchtcl-table');
if (!grid) return null;
grid.scrollIntoView();
return Array.from(grid.querySelectorAll('th, td')).map(d => d.innerText.trim());
"""

PROMPTS = """
return Array.from(document.querySelectorAll('.jp-CodeCell')).map(
    c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
"""

DIRTY = "return document.querySelector('.lm-TabBar-tab.jp-mod-dirty') !== null"

# each code cell's editor language and first line, once the %%torchtcl cells are Tcl
LANGUAGES = """
const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .cm-content')).map(
    c => [c.getAttribute('data-language'), (c.querySelector('.cm-line') || {}).textContent || '']);
return cells.every(([language, first]) => !first.startsWith('%%torchtcl') || language === 'tcl') && cells;
"""

# the view of the scatter cell (the one with a picture), marked for the steps that follow
SCATTER_VIEW = """
const view = Array.from(document.querySelectorAll('.jp-OutputArea .torchtcl-view')).find(
    v => v.querySelector('[role=tab]') && v.querySelector('.torchtcl-scatter'));
if (!view) return null;
view.dataset.testid = 'scatter';
view.scrollIntoView();
return Array.from(view.querySelectorAll('[role=tab]')).map(t => t.innerText.trim());
"""

PANEL = """
const view = document.querySelector('[data-testid=scatter]');
const panel = view.querySelector('[role=tabpanel]');
const selected = view.querySelector('[role=tab][aria-selected=true]');
return {rank: panel.dataset.rank, text: panel.innerText, selected: selected && selected.innerText.trim(),
        focused: document.activeElement === selected};
"""

TIMELINE_ROWS = """
const rows = document.querySelectorAll('[data-testid=scatter] .torchtcl-timeline .torchtcl-tl-row');
return Array.from(rows).map(r => [r.dataset.rank, r.innerText]);
"""

# the contrast of the first highlighted ("shape differs") cell: its text against its
# background blended over the first opaque background behind it (WCAG's formula)
CONTRAST = """
const cell = document.querySelector('.jp-OutputArea .torchtcl-differs td');
if (!cell) return null;
const rgba = s => { const n = (s.match(/[\\d.]+/g) || []).map(Number), srgb = s.startsWith('color(srgb');
                    return n.slice(0, 3).map(v => srgb ? v * 255 : v).concat([n.length > 3 ? n[3] : 1]); };
let under = [255, 255, 255, 1];
for (let e = cell.parentElement; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0.99) { under = c; break; }
}
const bg = rgba(getComputedStyle(cell).backgroundColor);
const mixed = [0, 1, 2].map(i => bg[i] * bg[3] + under[i] * (1 - bg[3]));
const text = rgba(getComputedStyle(cell).color);
const shown = [0, 1, 2].map(i => text[i] * text[3] + mixed[i] * (1 - text[3]));
const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                   return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const [hi, lo] = [lum(shown), lum(mixed)].sort((a, b) => b - a);
cell.scrollIntoView();
return (hi + 0.05) / (lo + 0.05);
"""


def painted(browser) -> None:
    """Return once the browser has painted what the page did so far (two animation frames)."""
    browser.execute_async_script("const done = arguments[arguments.length - 1]; "
                                 "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")


def click_menu(browser, *labels: str) -> None:
    from selenium.webdriver.common.by import By

    for label in labels:
        item = f"//*[contains(@class,'lm-MenuBar-itemLabel') or contains(@class,'lm-Menu-itemLabel')][text()='{label}']"
        wait_for(browser, f"return document.evaluate(\"{item}\", document, null, 9, null).singleNodeValue",
                 f"the menu item {label!r}")
        browser.find_element(By.XPATH, item).click()


def open_notebook(browser, base: str, token: str) -> None:
    browser.get(f"{base}/lab/tree/01_scatter.ipynb?token={token}")
    wait_for(browser, "return document.querySelector('.jp-Notebook .jp-CodeCell') !== null", "the notebook")
    wait_for(browser, "return !document.querySelector('.jp-Dialog') && "
             "Array.from(document.querySelectorAll('.jp-StatusBar-TextItem')).some(e => e.innerText.includes('Idle'))",
             "an idle kernel", timeout_s=120)


def check_scatter_view(browser) -> None:
    """The scatter cell's view: a tab per rank, rank 2's tab shows rank 2's output alone, the
    arrow keys move between tabs, the timeline has a row per rank naming the scatter."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    tabs = wait_for(browser, SCATTER_VIEW, "the scatter cell's view with its rank tabs")
    assert tabs == ["all ranks", "rank 0", "rank 1", "rank 2", "rank 3"]
    rank2 = browser.find_element(By.CSS_SELECTOR, "[data-testid=scatter] [role=tab][data-rank='2']")
    rank2.click()
    panel = browser.execute_script(PANEL)
    assert (panel["rank"], panel["selected"]) == ("2", "rank 2")
    assert "rank 2 holds 2 rows" in panel["text"] and "rank 0 holds" not in panel["text"], panel["text"]
    rank2.send_keys(Keys.ARROW_RIGHT)
    panel = browser.execute_script(PANEL)
    assert (panel["rank"], panel["selected"], panel["focused"]) == ("3", "rank 3", True)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=scatter] [role=tab]:not([data-rank])").click()
    rows = browser.execute_script(TIMELINE_ROWS)
    assert [rank for rank, _ in rows] == ["0", "1", "2", "3"]
    assert all("scatter" in text for _, text in rows), rows


def test_run_all_in_jupyterlab_runs_every_cell_and_reads_well_in_both_themes(lab, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, token, _ = lab
    ARTIFACT.parent.mkdir(exist_ok=True)
    open_notebook(browser, base, token)
    languages = wait_for(browser, LANGUAGES, "every %%torchtcl cell edited as Tcl")
    assert [first for language, first in languages if language == "tcl" and not first.startswith("%%torchtcl")] == []
    assert "%load_ext tcl_magic" in [first for _, first in languages]  # a Python cell, not Tcl
    painted(browser)  # what JupyterLab changes on open (kernelspec, language info) it changed once idle
    assert not browser.execute_script(DIRTY), "opening the tutorial changed it (it would be autosaved)"
    click_menu(browser, "Run", "Run All Cells")
    # the saved outputs carry no live widget models: a drawn table means the cell ran here
    cells = wait_for(browser, FIRST_TABLE, "the tensor table with the scatter picture")
    header, rows = cells[:5], [cells[i:i + 5] for i in range(5, len(cells), 5)]
    assert header == ["variable", "rank 0", "rank 1", "rank 2", "rank 3"]
    shapes = {row[0].split()[0]: [cell.split()[0] for cell in row[1:]] for row in rows}
    assert shapes == {"chunk": ["3x3", "3x3", "2x3", "2x3"], "data": ["10x3"] * 4}
    # "run all" went through every cell: the expected errors are caught, or tagged raises-exception
    wait_for(browser, "const p = " + PROMPTS.strip().removeprefix("return ") +
             " return p.every(x => !x.includes('*')) && p.filter(x => /\\d/.test(x)).length === p.length && p",
             "the end of the run")
    texts = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".jp-CodeCell")]
    assert "stopped 4 ranks" in texts[-1]
    failing = next(t for t in texts if "TclCellError" in t)
    message = "invalid src parameter: rank 100 is not in the world (ranks 0-3)"
    assert failing.count(message) == 2, failing  # said once in the error, once in the cell's view
    assert any("refused: the world (ranks 0-3) holds ranks 1,3" in t for t in texts)
    check_scatter_view(browser)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=scatter] .torchtcl-var").click()  # chunk, per rank
    details = browser.find_element(By.CSS_SELECTOR, "[data-testid=scatter] .torchtcl-details").text
    assert "rank 2 2x3 Float32 cpu 24 B 18 23 20.5" in details, details
    browser.find_element(By.CSS_SELECTOR, "[data-testid=scatter]").screenshot(
        str(ARTIFACT.with_name("jupyterlab_view.png")))
    for theme, shot in (("light", ARTIFACT), ("dark", ARTIFACT.with_name("jupyterlab_01_scatter_dark.png"))):
        if theme == "dark":
            click_menu(browser, "Settings", "Theme", "JupyterLab Dark")
            wait_for(browser, "return document.body.dataset.jpThemeLight === 'false' && "
                     "getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor !== "
                     "'rgb(255, 255, 255)'", "the dark theme")
        contrast = wait_for(browser, CONTRAST, "a highlighted row")
        painted(browser)  # the scroll to the row, before the screenshot
        browser.save_screenshot(str(shot))
        assert contrast >= 4.5, f"{theme} theme: the highlighted row's text has a contrast of {contrast:.2f}"
    # saved, reloaded, nothing run again: the views are drawn from the saved notebook
    click_menu(browser, "File", "Save Notebook")
    wait_for(browser, "return !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", "the saved notebook")
    prompts = browser.execute_script(PROMPTS)
    browser.refresh()
    open_notebook(browser, base, token)
    check_scatter_view(browser)
    assert browser.execute_script(PROMPTS) == prompts
    browser.save_screenshot(str(ARTIFACT.with_name("jupyterlab_01_scatter_reloaded.png")))
    # in the scatter cell's editor: Shift-Tab among a command's arguments shows its help, and
    # Enter after a line that ends in `]` keeps the line's indentation (Tcl's, not Python's 4 spaces)
    line = browser.find_element(By.XPATH, "//div[contains(@class,'cm-line')][starts-with(.,'set chunk [torch::')]")
    line.click()
    ActionChains(browser).send_keys(Keys.END, Keys.LEFT).key_down(Keys.SHIFT).send_keys(Keys.TAB) \
        .key_up(Keys.SHIFT).perform()
    tip = wait_for(browser, "const t = document.querySelector('.jp-Tooltip'); return t && t.innerText",
                   "the help of torch::distributed_scatter")
    assert tip.startswith("torch::distributed_scatter tensor ?src? ?group?"), tip
    ActionChains(browser).send_keys(Keys.ESCAPE).click(line).send_keys(Keys.END, Keys.ENTER).perform()
    after = wait_for(browser, "const l = Array.from(document.querySelectorAll('.cm-line')).find(l => "
                     "l.innerText.startsWith('set chunk [torch::')); return l && l.nextElementSibling && "
                     "[l.nextElementSibling.innerText, l.nextElementSibling.nextElementSibling.innerText]",
                     "the new line")
    assert after[0].replace("\n", "") == "" and after[1].startswith("puts"), after


MANY_RANKS = 64
MANY_VIEW = "document.querySelector('select.torchtcl-select').closest('.torchtcl-view')"  # the tutorial's has none


def write_many_ranks_notebook(path) -> None:
    """A notebook whose one cell holds the saved view of a cell on 64 ranks (drawn from the
    saved output: no kernel runs it)."""
    import nbformat

    from tcl_magic import display, view
    from tcl_magic.results import CellResult

    results = [CellResult(rank=r, output=[("stdout", f"rank {r} of {MANY_RANKS} here\n")]) for r in range(MANY_RANKS)]
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('%%torchtcl\nputs "rank [torch::get_rank] of [torch::get_world_size] here"')
    cell.outputs = [nbformat.v4.new_output("display_data", data=view.view_bundle(results, display.tensor_table(results)))]
    notebook.cells = [cell]
    nbformat.write(notebook, path)


def test_a_view_of_64_ranks_picks_its_rank_with_a_selector(lab, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, token, _ = lab
    write_many_ranks_notebook(tmp_path / "notebooks" / "many_ranks.ipynb")
    browser.get(f"{base}/lab/tree/many_ranks.ipynb?token={token}")
    options = wait_for(browser, "const s = document.querySelector('.torchtcl-view select.torchtcl-select'); "
                       "return s && Array.from(s.options).map(o => o.text)", "the rank selector")
    assert options == ["all ranks"] + [f"rank {r}" for r in range(MANY_RANKS)]
    tabs = browser.execute_script(f"return Array.from({MANY_VIEW}.querySelectorAll('[role=tab]')).map(t => t.innerText)")
    assert tabs == ["all ranks"]  # 64 tabs would not fit: the selector picks the rank
    Select(browser.find_element(By.CSS_SELECTOR, ".torchtcl-view select.torchtcl-select")).select_by_visible_text("rank 40")
    panel = wait_for(browser, f"const p = {MANY_VIEW}.querySelector('[role=tabpanel]'); "
                     "return p.dataset.rank === '40' && p.innerText", "rank 40's panel")
    assert "rank 40 of 64 here" in panel and "rank 41 of" not in panel, panel
    browser.execute_script(f"return {MANY_VIEW}").screenshot(str(ARTIFACT.with_name("jupyterlab_64_ranks.png")))

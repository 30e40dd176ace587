"""The JupyterLab extension shipped in the package is built from the sources in
labextension/: the bundle records the hash of the sources it was built from (build.js),
and this test recomputes it, so a change to the TypeScript or CSS without a rebuild fails
here, without Node.js. `.ci/run` also rebuilds the bundle with Node.js."""
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE, BUNDLE = ROOT / "labextension", ROOT / "tcl_magic" / "labextension"
REBUILD = "cd labextension && npm ci && npm run build"


def source_hash() -> str:
    """The hash record-source.js writes: each file's name and text, in its order."""
    names = ["package.json", "package-lock.json", "tsconfig.json", "build.js", "record-source.js"]
    names += [f"src/{p.name}" for p in sorted((SOURCE / "src").iterdir())]
    names += [f"style/{p.name}" for p in sorted((SOURCE / "style").iterdir())]
    digest = hashlib.sha256()
    for name in names:
        text = (SOURCE / name).read_text(encoding="utf-8").replace("\r\n", "\n")
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def test_the_shipped_bundle_is_built_from_the_current_sources():
    recorded = (BUNDLE / "source.sha256").read_text().strip()
    assert recorded == source_hash(), f"the bundle in tcl_magic/labextension is stale; rebuild it: {REBUILD}"


def test_the_bundle_declares_its_entry_point_and_both_extensions():
    meta = json.loads((BUNDLE / "package.json").read_text())
    build = meta["jupyterlab"]["_build"]
    assert meta["name"] == "torchtcl" and (BUNDLE / build["load"]).is_file()
    assert build["extension"] == "./extension" and build["mimeExtension"] == "./mimeExtension"

"""Helpers the tests share: scratch copies of the repository, a Snakemake runner, where the
default run puts things, and the faults the tests plant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from reprotrain import layout
from reprotrain.source_tree import copy_project

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Where the default run (breast_cancer v1.0, seed 42, hist_gradient_boosting) puts things.
RUN = "results/runs/breast_cancer/v1.0/seed-42"
DATA = f"{RUN}/data"
MODEL = f"{RUN}/hist_gradient_boosting"
LOGS_OF_RUN = {
    "preprocess": "logs/preprocess/breast_cancer/v1.0/seed-42.log",
    "train": "logs/train/breast_cancer/v1.0/seed-42/hist_gradient_boosting.log",
}
# What the default run's manifest covers, from the layout the workflow itself uses.
COVERED_DEFAULT = tuple(
    layout.Layout(
        "results",
        tuple(layout.combinations([("breast_cancer", "v1.0")], [42], ["hist_gradient_boosting"])),
    ).covered
)


def copy_repo(destination: Path) -> Path:
    """A fresh copy of the working tree (uncommitted edits included) at ``destination``."""
    return copy_project(REPO, destination)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def snakemake(
    workdir: Path,
    *args: str,
    cores: int = 2,
    check: bool = True,
    env: dict[str, str] | None = None,
    python: Path | None = None,
) -> Run:
    """Snakemake in ``workdir`` with the default profile; ``env``: the whole environment
    (default: the tests'), ``python``: the interpreter of another venv."""
    command = [
        *([str(python), "-m", "snakemake"] if python else [str(BIN / "snakemake")]),
        "--workflow-profile",
        "profiles/default",
        "--cores",
        str(cores),
        *args,
    ]
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, env=os.environ if env is None else env
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    if check and run.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} failed in {workdir}:\n{run.output[-6000:]}")
    return run


def config_override(workdir: Path, name: str, values: dict) -> list[str]:
    """Snakemake arguments that layer ``values`` over config/config.yaml (nested merge)."""
    path = workdir / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return ["--configfile", "config/config.yaml", f"config/{name}.yaml"]


def covered_bytes(workdir: Path, paths=COVERED_DEFAULT) -> dict[str, bytes]:
    return {path: (workdir / path).read_bytes() for path in paths}


def assert_same_manifest(workdir: Path, reference: Path) -> None:
    """The run in ``workdir`` left the very bytes of ``reference``'s run manifest."""
    expected = (reference / "results/manifest.json").read_bytes()
    assert (workdir / "results/manifest.json").read_bytes() == expected


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def run_hunt(root: Path, out: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """`reprotrain hunt` on the project at ``root``; its exit and its report.json."""
    done = subprocess.run(
        [str(BIN / "reprotrain"), "hunt", "--root", str(root), "--out", str(out), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (out / "report.md").is_file(), done.stdout + done.stderr
    return done, read_json(out / "report.json")


# Where the tests plant faults in a copy of the project: the training call, and an
# unseeded draw stored on the fitted model.
# (inside train's try block, which turns a failed fit into one message)
FIT_LINE = "        models.fit(estimator, features, labels, threads)\n"
UNSEEDED_DRAW = (
    "        estimator.noise_ = float(__import__('numpy').random.default_rng().random())\n"
)


def plant(project: Path, relative: str, anchor: str, before: str = "", after: str = "") -> None:
    """Put ``before`` and ``after`` around the one ``anchor`` line of a project file."""
    source = project / relative
    text = source.read_text(encoding="utf-8")
    assert text.count(anchor) == 1, f"{relative} no longer holds {anchor!r} once"
    source.write_text(text.replace(anchor, before + anchor + after), encoding="utf-8")


class HostilePickle:
    """What an attacker with write access to results/ puts in model.pkl: a pickle that runs
    a command when loaded (it leaves results/UNPICKLED behind)."""

    def __reduce__(self):
        return (os.system, ("touch results/UNPICKLED",))


def rewrite_model_and_card(project: Path) -> None:
    """A hostile model.pkl, and its sha256 put into the card beside it: both are in the
    gitignored results/, so writing there is all it takes."""
    import hashlib
    import pickle

    blob = pickle.dumps(HostilePickle())
    (project / MODEL / "model.pkl").write_bytes(blob)
    card_path = project / MODEL / "model_card.json"
    card = json.loads(card_path.read_text())
    card["model"]["sha256"] = hashlib.sha256(blob).hexdigest()
    card_path.write_text(json.dumps(card))


def wait_for(condition, what: str, timeout: float = 120):
    """Poll ``condition`` until it gives something true, and return that; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
    return found


def processes_with(variable: str, value: str) -> list[int]:
    """Live processes whose environment holds ``variable=value`` (they inherited it)."""
    found = []
    needle = f"{variable}={value}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone already, or not ours to read
        if needle in environment:
            found.append(int(entry.name))
    return found


# A run's provenance as a manifest records it, small: for tests that build manifests by hand.
PROVENANCE = {
    "data": {"d/v1": {"kind": "file", "source": "data/d.csv", "rows": None, "sha256": "0" * 64}},
    "code": {"digest": "c" * 64, "git_commit": None, "git_dirty": None},
    "params_digest": "a" * 64,
    "environment": {
        "lock": {"path": "envs/requirements.lock", "sha256": "1" * 64},
        "platform": "linux-x86_64",
        "python": {"implementation": "cpython", "version": "3.12.1", "build": "3.12.1 (main)"},
        "packages": {"numpy": "2.3.5"},
    },
}


_PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((element) => element.getBoundingClientRect().right > width + 1)
    .map((element) => element.tagName + (element.id ? "#" + element.id : ""));
  const probe = document.createElement("pre");
  probe.id = "reprotrain-probe";
  probe.textContent = JSON.stringify({
    text: document.body.innerText,
    overflow: document.documentElement.scrollWidth - width,
    wide: wide.slice(0, 10),
  });
  document.body.appendChild(probe);
}, 1500));
</script>"""


def seen_in_chromium(page: Path, scratch: Path, width: int = 1400) -> dict:
    """What a reader sees of an HTML page in headless Chromium at ``width`` px: the page's
    text as rendered (after its scripts ran), how far it overflows the window, and the
    elements that reach past its right edge."""
    import html
    import re
    import shutil

    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by tools/install-system-deps.sh"
    probed = scratch / f"probed-{page.name}"
    source = page.read_text(encoding="utf-8")
    index = source.rfind("</body>")
    probed.write_text(source[:index] + _PROBE + source[index:], encoding="utf-8")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1000",
         "--virtual-time-budget=15000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    found = re.search(r'<pre id="reprotrain-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    return json.loads(html.unescape(found.group(1))) | {"dom": done.stdout}

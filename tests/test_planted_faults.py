"""Faults an independent audit planted: `hunt` and `diff` each name the right cause.

Each test plants one fault in a copy of the project and checks what the hunt blames (a
plain rerun, build_path, user, python_hash_seed) and, on the hunt's own run copies, what
`reprotrain diff` says (nondeterminism, never a cause that is not in the output's own
provenance).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import BIN, FIT_LINE, MODEL, UNSEEDED_DRAW, copy_repo, plant, run_hunt

from reprotrain.audit import comparison, hunt

METRICS, CARD, MODEL_PKL = f"{MODEL}/metrics.json", f"{MODEL}/model_card.json", f"{MODEL}/model.pkl"
WRITE_METRICS = "    write_json(out, metrics)\n"
WRITE_CARD = "    write_json(card_out, card)\n"


def hunt_keeping_runs(project: Path, out: Path, only: str):
    done, report = run_hunt(project, out, "--keep", "--only", only)
    assert done.returncode == hunt.NONDETERMINISTIC, done.stdout + done.stderr
    outputs = {o["path"]: o for o in report["outputs"]}
    # The kept work folder moves beside the report, where pytest's tmp_path clean-up finds
    # it, rather than staying in the system's temporary folder.
    work = Path(shutil.move(report["work_directory"], out.parent / "hunt-work"))
    # Each run's project copy, kept as <work>/runs/run-NN/<its directory name>.
    kept = sorted((work / "runs").iterdir())
    return report, outputs, [next(run.iterdir()) for run in kept]


def diff(a: Path, b: Path) -> tuple[int, dict[str, dict]]:
    done = subprocess.run(
        [str(BIN / "reprotrain"), "diff", "--json"]
        + [str(run / "results/manifest.json") for run in (a, b)],
        capture_output=True,
        text=True,
        check=False,
    )
    differences = json.loads(done.stdout)["differences"]
    return done.returncode, {item["path"]: item for item in differences}


@pytest.mark.hunt
@pytest.mark.parametrize(
    ("anchor", "before", "after", "changed"),
    [
        pytest.param(
            WRITE_METRICS,
            '    metrics["written_at"] = __import__("time").time()\n',
            "",
            METRICS,
            id="wall-clock timestamp in metrics.json",
        ),
        pytest.param(FIT_LINE, "", UNSEEDED_DRAW, MODEL_PKL, id="unseeded numpy draw in the model"),
    ],
)
def test_run_to_run_nondeterminism_is_found_by_the_plain_rerun(
    tmp_path, anchor, before, after, changed
):
    project = copy_repo(tmp_path / "project")
    plant(project, "src/reprotrain/steps/learning.py", anchor, before=before, after=after)
    report, outputs, runs = hunt_keeping_runs(project, tmp_path / "report", "timezone,umask")
    assert report["differs_on_rerun"]
    assert outputs[changed]["culprits"] == [hunt.RERUN]
    assert outputs[changed]["how"] == "differs on a plain rerun: changes itself"
    # The control and its rerun, nothing else: no variation is blamed.
    assert [r["variations"] for r in report["runs"]] == [[], []]
    assert all(v["status"].startswith("not tested") for v in report["variations"])
    status, differences = diff(runs[0], runs[1])
    assert status == comparison.UNEXPLAINED
    assert differences[changed]["causes"] == [comparison.NONDETERMINISM]


@pytest.mark.hunt
def test_what_the_card_leaks_is_pinned_on_its_variation(tmp_path):
    """os.getcwd() and $USER, both planted in the card, share one hunt (a control, once):
    each is pinned on its own variation, as the explanation against that variation's run
    shows (the two cases of two hunts before)."""
    project = copy_repo(tmp_path / "project")
    planted = (
        '    card["built_in"] = os.getcwd()\n'
        '    card["built_by"] = os.environ.get("USER", "nobody")\n'
    )
    plant(project, "src/reprotrain/steps/record_keeping.py", WRITE_CARD, before=planted)
    report, outputs, _ = hunt_keeping_runs(project, tmp_path / "report", "build_path,user,home")
    assert not report["differs_on_rerun"]
    assert outputs[CARD]["culprits"] == ["build_path", "user"]
    assert outputs[MODEL_PKL]["identical"]
    statuses = {v["name"]: v["status"] for v in report["variations"]}
    assert statuses["build_path"] == statuses["user"] == "breaks bit-identity"
    assert statuses["home"].startswith("identical")
    # The keys each variation changed, as the explanation lists them before diffoscope.
    changed = {
        e["variation"]: {line.split(":")[0].strip() for line in e["diffoscope"].splitlines()}
        for e in report["explanations"]
        if e["path"] == CARD
    }
    assert "built_in" in changed["build_path"] and "built_by" not in changed["build_path"]
    assert "built_by" in changed["user"] and "built_in" not in changed["user"]


@pytest.mark.hunt
def test_set_order_param_in_the_snakemake_process_is_nondeterminism(tmp_path):
    """A param computed in the driver from a set's order: the hunt varies the driver's hash
    seed, and diff does not call the changed param explained (the config did not change)."""
    project = copy_repo(tmp_path / "project")
    plant(
        project,
        "src/reprotrain/driver/plan.py",
        '        return self.config["models"].get(wildcards["model"], {})\n',
        before=(
            "        order = list({'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'})\n"
            '        return self.config["models"].get(wildcards["model"], {})'
            ' | {"max_iter": 200 + order.index("a")}\n'
        ),
    )
    report, outputs, runs = hunt_keeping_runs(
        project, tmp_path / "report", "python_hash_seed,timezone"
    )
    assert not report["differs_on_rerun"]
    assert outputs[MODEL_PKL]["culprits"] == ["python_hash_seed"]
    varied = next(
        run
        for run, record in zip(runs, report["runs"], strict=True)
        if record["variations"] == ["python_hash_seed"]
    )
    status, differences = diff(runs[0], varied)
    assert status == comparison.UNEXPLAINED
    assert differences[MODEL_PKL]["causes"] == [comparison.NONDETERMINISM]
    assert differences[MODEL_PKL]["note"] == comparison.DRIVER_PARAMS

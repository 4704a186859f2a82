"""User code in a box (reprotrain.steps.box): a job's step sees only the declared
environment, and every process it starts (one in its own session, one whose parent
exited at once) ends with the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from reprotrain.environment import jobenv

STEP = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from reprotrain.steps import job

    def spawn(marker):
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        orphan = subprocess.run(
            ["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
            capture_output=True, text=True,
        ).stdout.strip()
        with open(marker, "w") as out:
            json.dump({"pids": [child.pid, int(orphan)], "environ": dict(os.environ)}, out)

    job.execute("job.log", spawn, {"marker": "seen.json"})
    """
)


def test_a_step_sees_the_declared_environment_and_leaves_no_process(tmp_path):
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_SECRET_ACCESS_KEY": "secret",
        "GITHUB_TOKEN": "secret",
        "LICENSE_SERVER": "declared",
        jobenv.PASS_VARIABLE: '["LICENSE_SERVER"]',
    }
    done = subprocess.run(
        [sys.executable, "-c", STEP], cwd=tmp_path, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in seen["environ"]
    assert "GITHUB_TOKEN" not in seen["environ"]
    assert seen["environ"]["LICENSE_SERVER"] == "declared"
    for pid in seen["pids"]:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived its job"


names = st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True)


@given(environment=st.dictionaries(names, st.text(max_size=5)), passed=st.lists(names))
def test_user_code_sees_only_the_allow_list_the_pin_and_what_the_run_passes(environment, passed):
    kept = jobenv.for_user_code(environment, passed)
    assert set(kept) <= set(environment)
    for name in kept:
        assert (
            name in jobenv.USER_CODE_NAMES
            or name.startswith(jobenv.USER_CODE_PREFIXES)
            or name in passed
            or jobenv.controlled(name)
        )
    for name in set(environment) & set(passed):
        assert kept[name] == environment[name]

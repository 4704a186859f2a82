"""Lint cleanliness and the setup scripts' promises."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers import BIN, REPO

from reprotrain import source_tree


def run(*command, **kwargs):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("snakemake", "--lint"), marks=pytest.mark.dryrun),
        ("snakefmt", "--check", "Snakefile", "workflow/Snakefile", "workflow/rules"),
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
    ],
    ids=["snakemake-lint", "snakefmt", "ruff-check", "ruff-format", "mypy"],
)
def test_linters_are_clean(command):
    done = run(str(BIN / command[0]), *command[1:])
    assert done.returncode == 0, done.stdout + done.stderr
    if command[0] == "snakemake":
        assert "Congratulations" in done.stdout + done.stderr


def test_find_python_finds_a_312():
    done = run("tools/find-python.sh", check=True)
    version = subprocess.run(
        [done.stdout.strip(), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "(3, 12)"


def test_find_python_fails_clearly_without_a_312(tmp_path):
    other = tmp_path / "bin"
    other.mkdir()
    # Only a non-3.12 interpreter is reachable (the image's default python3 is 3.11).
    (other / "python3").symlink_to("/usr/bin/python3")
    env = {"PATH": f"{other}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = run("tools/find-python.sh", env=env)
    assert done.returncode == 1
    assert "no Python 3.12 found" in done.stderr
    assert "REPROTRAIN_PYTHON" in done.stderr
    assert done.stdout == ""


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci/run").read_text()
    assert "make test" in readme
    assert "make run" in readme
    assert "make test" in ci


def test_console_script_is_installed():
    done = subprocess.run(
        [str(BIN / "reprotrain"), "check-locks"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert os.access(BIN / "reprotrain", os.X_OK)


def test_no_eval_exec_or_unsafe_loading_in_the_code():
    """Config is parsed safely; the only unpickling is models.load_verified, after its check."""
    import ast

    unpickling = []
    code = [REPO / name for name in source_tree.code_files(REPO) if name.endswith(".py")]
    for path in code:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            assert name not in {"eval", "exec", "compile", "__import__"}, f"{path}: {name}"
            if name == "yaml.load":
                loader = ast.unparse(node.keywords[0].value) if node.keywords else ""
                assert "SafeLoader" in loader, f"{path}: yaml.load with {loader or 'no'} Loader"
            assert name not in {"yaml.unsafe_load", "yaml.full_load", "joblib.load"}, path
            if name in {"pickle.load", "pickle.loads"}:
                unpickling.append(path.name)
    assert unpickling == ["models.py"]


# Where the package touches the filesystem other than through reprotrain.fileio, and why.
RAW_IO_ALLOWED = {
    "fileio.py": "the confined layer itself",
    "steps/worker.py": "its own sockets, pid and log files in a private 0700 folder; /proc",
    "steps/box.py": "/proc, to find the job's processes",
    "records/conditions.py": "/proc/self/mountinfo",
    "environment/numerics.py": "/proc/cpuinfo",
    "environment/drift.py": "importlib.metadata's own reads of installed distributions",
    "records/signing.py": "the sealing key, created 0600 with O_EXCL",
    "audit/hunt.py": "its scratch copies of the project under TMPDIR",
    "audit/reordered.py": "its scratch copy of the project under TMPDIR",
    "interop/crate.py": "ro-crate-py's scratch folder under TMPDIR, the packaged context",
    "driver/snakemake_adapter.py": "the staging folder of an exported source tree",
    "source_tree.py": "the folders of an exported source tree",
    "netio.py": "the one network layer: urllib's opener.open is a request, not a file",
}
RAW_IO = {
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "unlink",
    "rmdir",
    "rmtree",
    "open",
}


def test_every_file_access_goes_through_the_confined_layer():
    """Reads, writes and deletes go through reprotrain.fileio (confined, bounded, atomic,
    one message per OS failure); the few modules that may not say why (RAW_IO_ALLOWED)."""
    import ast

    package = REPO / "src/reprotrain"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).as_posix() in RAW_IO_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            called = name.rsplit(".", 1)[-1]
            if name.startswith("fileio."):
                continue
            if called in RAW_IO or name in {"open", "os.open", "np.save", "json.load"}:
                found.append(f"{path.relative_to(package)}:{node.lineno}: {name}")
    assert found == []


def test_the_type_checker_catches_a_misspelt_record_key(tmp_path):
    """The records are typed: reading a key a manifest does not have is an error before
    any run (here `param_digest` for `params_digest`)."""
    (tmp_path / "reads.py").write_text(
        "from reprotrain.records.types import Manifest\n\n\n"
        "def params_of(document: Manifest, path: str) -> str:\n"
        '    return document["files"][path]["param_digest"]\n'
    )
    done = subprocess.run(
        [
            str(BIN / "mypy"),
            "--config-file",
            str(REPO / "pyproject.toml"),
            str(tmp_path / "reads.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout
    assert '"FileEntry" has no key "param_digest"' in done.stdout


def test_the_package_has_no_import_cycle():
    """Module-level imports between the package's modules form no cycle (a module may
    import another lazily, inside a function, where it needs only part of it)."""
    import ast

    source = REPO / "src"
    modules = {}
    for path in source.rglob("*.py"):
        name = ".".join(path.relative_to(source).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reprotrain"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    found.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("reprotrain")}
        graph[name] = {each for each in found if each in modules and each != name}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for each in graph[start]:
            if each == goal or (each not in seen and (seen.add(each) or reaches(each, goal, seen))):
                return True
        return False

    cyclic = sorted(name for name in graph if reaches(name, name, set()))
    assert cyclic == []

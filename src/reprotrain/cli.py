"""The `reprotrain` command: audit runs (diff, verify, hunt), record manifests, check the locks.

Exit statuses of `diff` and `check`: 0 identical (`check`: or reproduced, every artifact
identical with the environment recorded otherwise, unless --strict), 1 differences all
explained by a changed input, 3 unexplained differences (nondeterminism), 2 usage or
input errors.
`verify`: 0 the directory matches the manifest, 1 it does not, 2 errors.
`hunt`: 0 every output identical under every variation, 3 nondeterminism found, 2 errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reprotrain import fileio, registration, source_tree, yamlfile
from reprotrain.audit import comparison, explain, hunt, verify
from reprotrain.environment import lockfiles
from reprotrain.errors import ReprotrainError
from reprotrain.records import attestation, manifest, signing

RUN_MANIFEST = "results/manifest.json"
RECORDED_MANIFEST = "config/manifest.json"
CONFIG = "config/config.yaml"


def _configured(manifest_path: str, key: str) -> object:
    """The config's ``manifest.<key>`` when ``manifest_path`` is its recorded manifest."""
    if not Path(CONFIG).is_file():
        return None
    settings = (yamlfile.load(CONFIG, "config file") or {}).get("manifest") or {}
    expected = settings.get("expected")
    if expected and Path(expected).resolve() == Path(manifest_path).resolve():
        return settings.get(key)
    return None


def _configured_public_key(manifest_path: str) -> str | None:
    """The config's manifest.public_key when ``manifest_path`` is its recorded manifest."""
    key = _configured(manifest_path, "public_key")
    return key if isinstance(key, str) else None


def _record(args: argparse.Namespace) -> None:
    required = _configured_public_key(args.to)
    if required and not args.sign:
        raise ReprotrainError(
            CONFIG,
            "manifest.public_key",
            f"records in {args.to} must be signed for {required}",
            "record with `--sign <private key>` (make record SIGNING_KEY=<private key>)",
        )
    if args.attest and not args.sign:
        raise ReprotrainError(
            args.to,
            "--attest",
            "an attestation is signed with the record's key, and no key was given",
            "add `--sign <private key>` (make record SIGNING_KEY=<private key>)",
        )
    if args.sign:
        signing.check_private_key(args.sign)
    recorded = manifest.record(args.run, args.to)
    print(f"recorded {len(recorded['files'])} files from {args.run} into {args.to}")
    if args.sign:
        print(f"signed: {signing.sign(args.to, args.sign)}")
    if args.attest:
        print(f"attested: {attestation.attest(recorded, args.to, args.sign)}")
    # What signed or attested the record this one replaces no longer describes it.
    for stale, replaced in (
        (signing.signature_path(args.to), args.sign),
        (attestation.attestation_path(args.to), args.attest),
    ):
        if not replaced and stale.exists():
            fileio.remove(stale)
            print(f"removed {stale}: it was made for the previous record")


def _keygen(args: argparse.Namespace) -> None:
    key = signing.generate(args.private, args.public)
    print(f"ed25519 key {key[:12]}: private {args.private} (keep it out of the repository)")
    print(f"public {args.public}: set manifest.public_key to it in {CONFIG}")


def _record_arguments(parser: argparse.ArgumentParser, tool: str) -> None:
    """The record a tool checks a run against before it vouches for it."""
    parser.add_argument(
        "--expected",
        default=RECORDED_MANIFEST,
        help=f"the recorded manifest the run must reproduce: {tool} vouches for nothing else",
    )
    parser.add_argument(
        "--strict", action="store_true", help="any covered file that differs refuses the run"
    )
    parser.add_argument(
        "--public-key",
        help="the record must be signed for this public key (default: the config's "
        "manifest.public_key, for its recorded manifest)",
    )


def _run_and_record(parser: argparse.ArgumentParser, tool: str) -> None:
    """Which run a tool reads and which record it must reproduce: given by hand, or as
    the run's config files name them (``_apply_configfiles``)."""
    parser.add_argument(
        "--configfile",
        nargs="+",
        metavar="FILE",
        help="the run's config files, as given to snakemake (config/config.yaml is read "
        "first, as the Snakefile does): its results directory and manifest settings say "
        "which run and which record",
    )
    parser.add_argument(
        "--run", help=f"the run manifest to {tool} (default {RUN_MANIFEST}, or the config's)"
    )
    parser.add_argument(
        "--expected",
        help="the recorded manifest the run must reproduce (default "
        f"{RECORDED_MANIFEST}, or the config's manifest.expected)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on any covered file that differs, the environment record included "
        "(default: the config's manifest.strict, for its recorded manifest); without it, a "
        "run whose every artifact is identical passes and says what differs in the environment",
    )
    parser.add_argument(
        "--public-key",
        help="the manifest must be signed for this public key (default: the config's "
        "manifest.public_key, for its recorded manifest)",
    )


def _public_key(args: argparse.Namespace, manifest_path: str) -> str | None:
    return args.public_key or _configured_public_key(manifest_path)


def _compare(
    before_path: str,
    after_path: str,
    as_json: bool,
    dirs: tuple[str | None, str | None] | None = None,
) -> tuple[int, list, tuple[Path, Path], tuple[str, str]]:
    """Diff two manifests; with ``dirs`` (each run's directory, None for the default:
    the one above the manifest's results directory), name changed params from the runs'
    records too."""
    before = manifest.load(before_path, "manifest A")
    after = manifest.load(after_path, "manifest B")
    differences = comparison.classify(before, after)
    roots = (Path(), Path())
    deltas = None
    if dirs is not None:
        roots = (
            Path(dirs[0]) if dirs[0] else comparison.run_root(before_path, before),
            Path(dirs[1]) if dirs[1] else comparison.run_root(after_path, after),
        )
        comparison.name_changed_params(differences, before, after, *roots)
        deltas = comparison.metric_deltas(differences, before, after, *roots)
    if as_json:
        print(json.dumps(comparison.to_json(differences, before, after), indent=2, sort_keys=True))
    else:
        if differences:
            print(comparison.summary(differences, deltas))
            print()
        print(
            comparison.format_report(
                differences,
                before_path,
                after_path,
                hardware=comparison.hardware_change(before, after),
                environment=comparison.environment_change(before, after),
            )
        )
        judgement = comparison.judge(differences, before, after, strict=False)
        if differences and judgement.reproduced:
            print(judgement.line())
    logs = (comparison.logs_directory(before), comparison.logs_directory(after))
    return comparison.status(differences), differences, roots, logs


def _diff(args: argparse.Namespace) -> int:
    outcome, differences, roots, logs = _compare(
        args.a, args.b, args.json, (args.a_dir, args.b_dir)
    )
    if args.explain and differences:
        print()
        print(explain.explain(differences, *roots, logs=logs))
    return outcome


def _merged_config(files: list[str]) -> dict[str, Any]:
    """The config a run with ``--configfile files`` reads: config/config.yaml (the
    Snakefile's own configfile), then each file over it, nested keys merged."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
        return merged

    config: dict[str, Any] = {}
    for file in dict.fromkeys([CONFIG, *files]):
        loaded = yamlfile.load(file, "config file") or {}
        if not isinstance(loaded, dict):
            raise ReprotrainError(file, None, "is not a mapping of config keys", "fix the file")
        config = merge(config, loaded)
    return config


def _apply_configfiles(args: argparse.Namespace) -> None:
    """`check --configfile ...`: the run's manifest and its record, as that config names
    them (results/manifest.json and manifest.expected), unless given by hand."""
    if not args.configfile:
        return
    config = _merged_config(args.configfile)
    settings = config.get("manifest") or {}
    if args.run is None:
        args.run = f"{config.get('results', 'results')}/manifest.json"
    if args.expected is None:
        args.expected = settings.get("expected", RECORDED_MANIFEST)
    if not args.strict and settings.get("strict") is True:
        args.strict = True
    if args.public_key is None and isinstance(settings.get("public_key"), str):
        args.public_key = settings["public_key"]


def _check(args: argparse.Namespace) -> int:
    _apply_configfiles(args)
    args.run = args.run or RUN_MANIFEST
    args.expected = args.expected or RECORDED_MANIFEST
    # The run's files are hashed first: a manifest says nothing of files changed since.
    run = manifest.load(args.run, "run manifest")
    manifest.verify_on_disk(run, args.run)
    recorded = manifest.load(
        args.expected, "recorded manifest", public_key=_public_key(args, args.expected)
    )
    strict = args.strict or _configured(args.expected, "strict") is True
    differences = comparison.classify(recorded, run)
    judgement = comparison.judge(differences, recorded, run, strict)
    if differences and judgement.reproduced:
        print(judgement.line())
        status = comparison.IDENTICAL
    else:
        if differences:
            # The record's own files are not at hand here: no params or metric deltas.
            print(comparison.summary(differences))
            print()
        print(
            comparison.format_report(
                differences,
                args.expected,
                args.run,
                hardware=comparison.hardware_change(recorded, run),
                environment=comparison.environment_change(recorded, run),
            )
        )
        status = comparison.status(differences)
        if judgement.refused_as_strict:
            print("strict: the environment must be the recorded one too")
    if args.list:
        for path in sorted(run["files"]):
            print(f"  {path}")
    return status


def _predict(args: argparse.Namespace) -> int:
    from reprotrain import serving

    _apply_configfiles(args)
    args.run = args.run or RUN_MANIFEST
    args.expected = args.expected or RECORDED_MANIFEST
    record = serving.predict(
        args.run,
        args.rows,
        args.out,
        expected=args.expected,
        model=args.model,
        public_key=_public_key(args, args.expected),
        strict=args.strict or _configured(args.expected, "strict") is True,
        environment_rule=args.environment,
        python=args.python,
        record_out=args.record,
    )
    for difference in record["environment"]["differences"]:
        print(f"reprotrain: warning: {difference}", file=sys.stderr)
    print(
        f"predicted {record['input']['rows']} rows with {record['model']['run']} "
        f"(model sha256 {record['model']['sha256'][:12]}): {record['output']['file']}, "
        f"record {args.record or args.out + '.record.json'}"
    )
    return 0


def _leaderboard_source(given: str) -> Path:
    """A run's manifest: given, in the results directory given, or the one the results
    directory of a config overlay (over config/config.yaml) holds."""
    path = Path(given)
    if path.suffix in {".yaml", ".yml"}:
        return Path(str(_merged_config([given]).get("results", "results"))) / "manifest.json"
    if path.is_dir():
        return path / "manifest.json"
    return path


def _compare_runs(args: argparse.Namespace) -> int:
    from reprotrain.audit import leaderboard

    rows = []
    for given in args.runs:
        rows += leaderboard.load(_leaderboard_source(given), given)
    if not rows:
        raise ReprotrainError(
            " ".join(args.runs), None, "hold no model run", "give results directories of runs"
        )
    boards = leaderboard.boards(rows, args.by)
    if args.json:
        print(json.dumps(leaderboard.to_json(boards), indent=2, sort_keys=True))
    else:
        print(leaderboard.format_text(boards))
    if args.figure:
        leaderboard.figure(boards, args.figure)
        if not args.json:
            print(f"figure: {args.figure}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    public_key = _public_key(args, args.manifest)
    if args.attestation and not public_key:
        raise ReprotrainError(
            args.attestation,
            None,
            "an attestation is only as good as its signature, and no public key was given",
            "add `--public-key <the record's public key>`",
        )
    report = verify.verify(args.manifest, args.root, public_key)
    problems = list(report.problems)
    if args.attestation:
        assert public_key is not None  # refused above without one
        problems += attestation.verify(args.attestation, public_key, args.root, args.manifest)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"verified: {report.checked} files under {args.root} match {args.manifest}")
        if args.attestation:
            print(f"verified: {args.attestation} is signed for {public_key} and attests them")
        return 0
    print(f"{len(problems)} problem(s) in {args.root} against {args.manifest}")
    return 1


def _hunt(args: argparse.Namespace) -> int:
    def split(value: str | None) -> list[str]:
        return [name for name in (value or "").split(",") if name]

    report = hunt.hunt(
        Path(args.root).resolve(),
        Path(args.out).resolve(),
        target=args.target,
        snakemake_args=args.snakemake_args,
        only=split(args.only),
        skip=split(args.skip),
        each=args.each,
        keep=args.keep,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(hunt.format_markdown(report))
    print(f"report: {Path(args.out) / 'report.md'} and report.json")
    return report["status"]


def _crate(args: argparse.Namespace) -> int:
    from reprotrain.interop import crate

    results = Path(args.run).parent
    out = Path(args.out) if args.out else results / "crate.zip"
    checksum = Path(args.checksum) if args.checksum else results / "checksum.json"
    source = Path(args.source) if args.source else source_tree.package_source_root()
    written = crate.build(
        args.run,
        out,
        source,
        checksum if checksum.is_file() else None,
        expected=args.expected,
        public_key=_public_key(args, args.expected),
        strict=args.strict or _configured(args.expected, "strict") is True,
    )
    print(f"crate: {written}")
    if not args.validate:
        return 0
    problems = crate.validate(written)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} check(s) of {crate.PROFILE} failed (rocrate-validator)")
        return 1
    print(f"valid: {crate.PROFILE} and the profiles it builds on (rocrate-validator, REQUIRED)")
    return 0


def _export_mlflow(args: argparse.Namespace) -> None:
    from reprotrain.interop import mlflow_export

    ids = mlflow_export.export(
        args.run,
        args.tracking_uri,
        args.experiment,
        args.artifact_location,
        expected=args.expected,
        public_key=_public_key(args, args.expected),
        strict=args.strict or _configured(args.expected, "strict") is True,
    )
    print(
        f"{len(ids)} run(s) of {args.run} in experiment {args.experiment!r} at {args.tracking_uri}"
    )


def _lock_constraints(args: argparse.Namespace) -> None:
    conda = lockfiles.conda_python_packages(
        lockfiles.load_conda_lock(args.conda_lock), args.platform
    )
    sys.stdout.write(lockfiles.pip_constraints(conda))


def _add_data(args: argparse.Namespace) -> None:
    if (args.path is None) == (args.from_datapackage is None):
        raise ReprotrainError(
            "add-data",
            "PATH",
            "needs one table: a CSV file or --from-datapackage",
            "give the CSV file's path, or --from-datapackage datapackage.json",
        )
    if args.path is not None:
        if not args.target:
            raise ReprotrainError(
                args.path, "--target", "is needed", "name the column to predict: --target COL"
            )
        entry = registration.register(
            Path.cwd(),
            args.registry,
            args.path,
            args.name,
            args.version,
            args.target,
            args.task,
            args.description,
            args.exclude or (),
        )
    else:
        entry = registration.register_from_datapackage(
            Path.cwd(),
            args.registry,
            args.from_datapackage,
            args.resource,
            args.name,
            args.version,
            args.target,
            args.task,
            args.description,
            args.exclude or (),
        )
    schema = entry["schema"]
    what = (
        "regression"
        if schema.get("task") == "regression"
        else f"classification, classes {schema['classes']}"
    )
    print(
        f"registered {args.name} {args.version} in {args.registry}: {entry['source']} "
        f"(sha256 {entry['sha256']}), {len(schema['features'])} features, {what}"
    )
    if args.datapackage:
        from reprotrain import datapackage

        datapackage.write(Path(args.datapackage), Path.cwd(), entry, args.name, args.version)
        print(f"described as a Frictionless Data Package: {args.datapackage}")
    print("check the inferred types there; an overlay that runs it:\n")
    print(registration.overlay(args.name, args.version, entry))


def _env_add(args: argparse.Namespace) -> None:
    from reprotrain.environment import adding

    conda_names = {}
    for pair in args.conda or []:
        pypi, separator, conda = pair.partition("=")
        if not separator or not pypi or not conda:
            raise ReprotrainError(
                "--conda",
                None,
                f"{pair!r} is not PYPI=CONDA",
                "for example xgboost-cpu=py-xgboost-cpu",
            )
        conda_names[lockfiles.normalize(pypi)] = conda
    repo = source_tree.package_source_root() if args.source is None else Path(args.source)
    added = adding.add(repo, args.name, args.packages, conda_names)
    for path in added.written:
        print(f"wrote {path}")
    print(added.conda_note)
    print(
        f"next: `make setup` installs it into its own venv (--require-hashes); a model runs "
        f"in it with `models: {{<model>: {{..., environment: {args.name}}}}}`"
    )


def _env_lock(args: argparse.Namespace) -> None:
    from reprotrain.environment import adding, named

    repo = source_tree.package_source_root() if args.source is None else Path(args.source)
    environment = named.check_defined(args.name, repo, "reprotrain env lock", "NAME")
    for path in adding.lock_conda(repo, environment):
        print(f"wrote {path}")
    adding.check(repo, environment)
    print(f"{environment.directory}: the conda lock agrees with the pip lock")


def _check_locks(args: argparse.Namespace) -> None:
    conda_lock = lockfiles.load_conda_lock(args.conda_lock)
    unmet = lockfiles.closure_problems(conda_lock)
    for problem in unmet:
        print(problem, file=sys.stderr)
    if unmet:
        raise ReprotrainError(
            args.conda_lock,
            "package",
            f"{len(unmet)} dependencies of locked packages are not satisfied by the lock "
            "(see above): an environment built from it would not be the one solved",
            "relock with `make lock` (it needs conda-forge); never edit the lock by hand",
        )
    conda = lockfiles.conda_python_packages(conda_lock)
    pip = lockfiles.load_pip_lock(args.pip_lock)
    mismatches = lockfiles.version_mismatches(conda, pip)
    unhashed = sorted(name for name, pin in pip.items() if not pin.hashes)
    for name, conda_version, pip_version in mismatches:
        print(f"{name}: conda {conda_version}, pip {pip_version}", file=sys.stderr)
    for name in unhashed:
        print(f"{name}: no --hash in {args.pip_lock}", file=sys.stderr)
    if mismatches or unhashed:
        raise ReprotrainError(
            args.pip_lock,
            ", ".join(name for name, *_ in mismatches) or ", ".join(unhashed),
            "does not agree with the conda lock (see above)",
            "regenerate it with `make pip-lock`",
        )
    platforms = len({entry["platform"] for entry in conda_lock["package"]})
    print(
        f"conda lock closed: every dependency of every locked package is locked "
        f"({platforms} platforms); {len(lockfiles.shared_packages(conda, pip))} shared packages "
        "agree; all pins hashed"
    )


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="reprotrain", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)

    record = commands.add_parser(
        "record", help="make the run's manifest the recorded one (after checking the files)"
    )
    record.add_argument(
        "--run", default=RUN_MANIFEST, help=f"the run manifest to record (default {RUN_MANIFEST})"
    )
    record.add_argument(
        "--to",
        default=RECORDED_MANIFEST,
        help=f"where the record goes: the config's manifest.expected (default {RECORDED_MANIFEST})",
    )
    record.add_argument(
        "--sign", metavar="PRIVATE_KEY", help="sign the record with this ed25519 key (keygen)"
    )
    record.add_argument(
        "--attest",
        action="store_true",
        help="also write a signed in-toto/SLSA provenance attestation beside the record "
        "(<record>.intoto.jsonl; needs --sign)",
    )
    record.set_defaults(handler=_record)

    keygen = commands.add_parser(
        "keygen", help="make an ed25519 key pair for signing records (offline, once)"
    )
    keygen.add_argument("--private", required=True, help="where the private key goes (0600)")
    keygen.add_argument(
        "--public",
        default="config/record-signing.pub",
        help="where the public key goes, in the repository (manifest.public_key names it)",
    )
    keygen.set_defaults(handler=_keygen)

    diff = commands.add_parser(
        "diff", help="compare two manifests and say why each differing output changed"
    )
    diff.add_argument("a", help="manifest A (e.g. the recorded one)")
    diff.add_argument("b", help="manifest B")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.add_argument(
        "--explain", action="store_true", help="show what differs inside each file (diffoscope)"
    )
    diff.add_argument(
        "--a-dir", help="where A's files are (default: the directory above A's results)"
    )
    diff.add_argument(
        "--b-dir", help="where B's files are (default: the directory above B's results)"
    )
    diff.set_defaults(handler=_diff)

    verify = commands.add_parser(
        "verify", help="check a results directory against a manifest, by hashing only"
    )
    verify.add_argument(
        "manifest",
        nargs="?",
        default=RUN_MANIFEST,
        help=f"the manifest whose signature to check (default {RUN_MANIFEST})",
    )
    verify.add_argument("--root", default=".", help="directory the manifest's paths start from")
    verify.add_argument(
        "--public-key",
        help="the manifest must be signed for this public key (default: the config's "
        "manifest.public_key, for its recorded manifest)",
    )
    verify.add_argument(
        "--attestation",
        help="also check this signed in-toto attestation (record --attest): its signature, "
        "its subjects on disk and the manifest it names",
    )
    verify.set_defaults(handler=_verify)

    check = commands.add_parser(
        "check",
        help="hash the last run's files against its manifest, then diff it with the recorded one",
    )
    _run_and_record(check, "check")
    check.add_argument("--list", action="store_true", help="then list the run's covered outputs")
    check.set_defaults(handler=_check)

    comparing = commands.add_parser(
        "compare",
        help="rank the model runs of several runs by their metrics, with the params that differ",
        description="Each run's covered files are hashed against its manifest before a number "
        "of it is shown; one board per kind of task, best first.",
    )
    comparing.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="a results directory, a run manifest, or a config overlay (its results directory)",
    )
    comparing.add_argument(
        "--by",
        help="the metric to rank by (default: roc_auc for classification, rmse for regression)",
    )
    comparing.add_argument("--json", action="store_true", help="print the boards as JSON")
    comparing.add_argument("--figure", help="also draw the ranking as an SVG figure here")
    comparing.set_defaults(handler=_compare_runs)

    predicting = commands.add_parser(
        "predict",
        help="score new rows with a model of a checked run, in the model's environment",
        description="Loads model.pkl only after the run reproduces its record and its bytes "
        "match both; checks the rows against the model's table schema; writes the "
        "predictions (and class probabilities) and a record of what was used (docs/predict.md).",
    )
    predicting.add_argument("rows", help="a CSV file of the model's feature columns")
    predicting.add_argument("--out", required=True, help="where to write the predictions (CSV)")
    predicting.add_argument(
        "--record", help="where to write the prediction record (default: OUT.record.json)"
    )
    predicting.add_argument(
        "--model",
        help="which model of the run: dataset/version/seed-N/model, or its model name when "
        "unique (not needed when the run has one)",
    )
    predicting.add_argument(
        "--environment",
        choices=("refuse", "warn"),
        default="refuse",
        help="when this environment is not the model's recorded one (Python minor version, "
        "package versions): refuse (default), or predict and list the differences",
    )
    predicting.add_argument(
        "--python",
        help="the interpreter of the model's environment (default: this one, or the named "
        "environment's venv beside it)",
    )
    _run_and_record(predicting, "predict with")
    predicting.set_defaults(handler=_predict)

    hunting = commands.add_parser(
        "hunt",
        help="rerun the pipeline under varied conditions and name what breaks bit-identity",
        description="Runs a control and an experiment varying "
        + ", ".join(hunt.BY_NAME)
        + " in fresh copies of the project; bisects the variations when outputs differ.",
    )
    hunting.add_argument("--root", default=".", help="the project to copy (default: here)")
    hunting.add_argument("--out", default="hunt-report", help="where report.md/.json go")
    hunting.add_argument("--target", default=RUN_MANIFEST, help="the run manifest to compare")
    hunting.add_argument("--only", help="comma-separated variations to test (default: all)")
    hunting.add_argument("--skip", help="comma-separated variations not to test")
    hunting.add_argument(
        "--each", action="store_true", help="also vary each variation alone (one run each)"
    )
    hunting.add_argument("--keep", action="store_true", help="keep the run copies")
    hunting.add_argument(
        "snakemake_args", nargs="*", help="after --: extra Snakemake arguments (e.g. --configfile)"
    )
    hunting.set_defaults(handler=_hunt)

    crating = commands.add_parser(
        "crate",
        help="write a checked run as a Workflow Run RO-Crate (Provenance Run Crate 0.5)",
    )
    crating.add_argument("--run", default=RUN_MANIFEST, help="the run manifest")
    crating.add_argument(
        "--out", help="a .zip, or a directory (default: crate.zip beside the manifest)"
    )
    crating.add_argument(
        "--checksum", help="the checksum verdict (default: checksum.json beside the manifest)"
    )
    crating.add_argument(
        "--source", help="the workflow's source tree (default: this reprotrain's checkout)"
    )
    crating.add_argument(
        "--validate",
        action="store_true",
        help="then validate it with rocrate-validator (offline); exit 1 when it fails",
    )
    _record_arguments(crating, "the crate")
    crating.set_defaults(handler=_crate)

    exporting = commands.add_parser(
        "export", help="export a checked run to another tool's store"
    ).add_subparsers(dest="target", required=True)
    mlflow = exporting.add_parser(
        "mlflow",
        help="log each model run (params, metrics, card, figures, model, manifest, digests "
        "as tags) to an MLflow tracking store; exporting again adds nothing",
    )
    mlflow.add_argument(
        "--tracking-uri",
        required=True,
        help="an MLflow tracking server (http://host:5000) or store (sqlite:///mlflow.db)",
    )
    mlflow.add_argument("--run", default=RUN_MANIFEST, help="the run manifest to export")
    mlflow.add_argument(
        "--experiment", default="reprotrain", help="the MLflow experiment (default reprotrain)"
    )
    mlflow.add_argument(
        "--artifact-location",
        help="where a new experiment keeps artifacts (default: beside a SQLite store)",
    )
    _record_arguments(mlflow, "the export")
    mlflow.set_defaults(handler=_export_mlflow)

    constraints = commands.add_parser(
        "lock-constraints", help="pip constraints holding Python packages at conda-lock versions"
    )
    constraints.add_argument(
        "--conda-lock", default="envs/conda-lock.yml", help="the conda lock to read"
    )
    constraints.add_argument(
        "--platform",
        default="linux-64",
        choices=lockfiles.CONDA_PLATFORMS,
        help="the platform whose packages to hold (default linux-64)",
    )
    constraints.set_defaults(handler=_lock_constraints)

    adding_data = commands.add_parser(
        "add-data",
        help="register a CSV table in the dataset registry: its sha256, and every column's "
        "type inferred from the whole table; prints the overlay that runs it",
    )
    adding_data.add_argument(
        "path", nargs="?", help="the CSV file, inside the repository (data/...)"
    )
    adding_data.add_argument("--name", required=True, help="the dataset's name")
    adding_data.add_argument("--version", required=True, help="its version, e.g. v1.0")
    adding_data.add_argument(
        "--target",
        help="the column to predict (from a descriptor reprotrain wrote: the one it names)",
    )
    adding_data.add_argument(
        "--task",
        choices=registration.TASKS,
        default="auto",
        help="classification or regression (auto: text or few whole numbers are classes, "
        "other numbers a quantity; asked when it cannot tell)",
    )
    adding_data.add_argument(
        "--registry", default="config/datasets.yaml", help="the dataset registry to add it to"
    )
    adding_data.add_argument("--description", help="what the table is (default: its size)")
    adding_data.add_argument(
        "--exclude",
        action="append",
        metavar="COLUMN",
        help="a column the model must not take (an identifier, free text, a date): "
        "registered as ignored; repeat for more",
    )
    adding_data.add_argument(
        "--from-datapackage",
        metavar="DESCRIPTOR",
        help="register the table a Frictionless Data Package describes (its Table Schema "
        "and sha256: hash, checked against the Data Package 2.0 profile) instead of a CSV",
    )
    adding_data.add_argument(
        "--resource", help="which resource of the descriptor (not needed when it has one)"
    )
    adding_data.add_argument(
        "--datapackage",
        metavar="DESCRIPTOR",
        help="also describe the registered table as a Frictionless Data Package here "
        "(beside the table or above it)",
    )
    adding_data.set_defaults(handler=_add_data)

    environments = commands.add_parser(
        "env", help="locked environments of their own for a model's libraries (envs/<name>/)"
    ).add_subparsers(dest="action", required=True)
    env_add = environments.add_parser(
        "add",
        help="make envs/NAME/: the rule environment plus PACKAGE==VERSION..., its pip lock "
        "with hashes at the base lock's versions, and its conda lock where conda-forge is "
        "reachable; then check them",
    )
    env_add.add_argument("name", help="the environment's name (models.<m>.environment)")
    env_add.add_argument("packages", nargs="+", help="exact pins, e.g. lightgbm==4.7.0")
    env_add.add_argument(
        "--conda",
        action="append",
        metavar="PYPI=CONDA",
        help="a package's conda-forge name where it differs (xgboost-cpu=py-xgboost-cpu is known)",
    )
    env_add.add_argument("--source", help="the source tree (default: this reprotrain's checkout)")
    env_add.set_defaults(handler=_env_add)
    env_lock = environments.add_parser(
        "lock",
        help="make envs/NAME/conda-lock.yml and its pin files (needs conda-forge), and check "
        "that they agree with the pip lock",
    )
    env_lock.add_argument("name", help="the environment (envs/NAME/)")
    env_lock.add_argument("--source", help="the source tree (default: this reprotrain's checkout)")
    env_lock.set_defaults(handler=_env_lock)

    check_locks = commands.add_parser(
        "check-locks",
        help="check that the conda lock is dependency-closed and that the pip lock pins its "
        "versions, with hashes",
    )
    check_locks.add_argument(
        "--conda-lock", default="envs/conda-lock.yml", help="the conda lock to check"
    )
    check_locks.add_argument(
        "--pip-lock", default="envs/requirements.lock", help="the pip lock that must agree"
    )
    check_locks.set_defaults(handler=_check_locks)
    return main_parser


# The arguments that name a file or folder: the user's own, their links followed once
# (reprotrain.fileio.user_path); what is found through them stays confined.
_PATH_ARGUMENTS = (
    "run", "to", "expected", "manifest", "root", "out", "checksum", "source", "public_key",
    "attestation", "a", "b", "a_dir", "b_dir", "private", "public", "sign", "conda_lock",
    "pip_lock", "path", "registry", "configfile", "rows", "record", "python", "figure",
    "from_datapackage", "datapackage",
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """The one top-level handler: a bad input or an OS failure is one message (exit 2),
    Ctrl-C one line (exit 130); only a bug of reprotrain's shows a traceback."""
    args = parser().parse_args(argv)
    for name in _PATH_ARGUMENTS:
        if isinstance(value := getattr(args, name, None), str):
            setattr(args, name, fileio.user_path(value))
    try:
        return args.handler(args) or 0
    except ReprotrainError as error:
        print(f"reprotrain: {error.message}", file=sys.stderr)
        return 2
    except OSError as error:
        failure = fileio.os_error(error.filename or "reprotrain", error, "used")
        print(f"reprotrain: {failure.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reprotrain: interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

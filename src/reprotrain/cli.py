"""The `reprotrain` command: record and check manifests, derive lock constraints."""

from __future__ import annotations

import argparse
import sys

from reprotrain import locks, manifest
from reprotrain.errors import ReprotrainError

RUN_MANIFEST = "results/manifest.json"
RECORDED_MANIFEST = "config/manifest.json"


def _record(args: argparse.Namespace) -> None:
    recorded = manifest.record(args.run, args.to)
    print(f"recorded {len(recorded['files'])} files from {args.run} into {args.to}")


def _check(args: argparse.Namespace) -> None:
    manifest.check(args.run, args.expected)
    print(f"{args.run} matches {args.expected}")


def _lock_constraints(args: argparse.Namespace) -> None:
    conda = locks.conda_python_packages(locks.load_conda_lock(args.conda_lock), args.platform)
    sys.stdout.write(locks.pip_constraints(conda))


def _check_locks(args: argparse.Namespace) -> None:
    conda = locks.conda_python_packages(locks.load_conda_lock(args.conda_lock))
    pip = locks.load_pip_lock(args.pip_lock)
    mismatches = locks.version_mismatches(conda, pip)
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
    print(f"{len(locks.shared_packages(conda, pip))} shared packages agree; all pins hashed")


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="reprotrain", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)

    record = commands.add_parser(
        "record", help="make the run's manifest the recorded one (after checking the files)"
    )
    record.add_argument("--run", default=RUN_MANIFEST)
    record.add_argument("--to", default=RECORDED_MANIFEST)
    record.set_defaults(handler=_record)

    check = commands.add_parser("check", help="compare a run manifest with the recorded one")
    check.add_argument("--run", default=RUN_MANIFEST)
    check.add_argument("--expected", default=RECORDED_MANIFEST)
    check.set_defaults(handler=_check)

    constraints = commands.add_parser(
        "lock-constraints", help="pip constraints holding Python packages at conda-lock versions"
    )
    constraints.add_argument("--conda-lock", default="envs/conda-lock.yml")
    constraints.add_argument("--platform", default="linux-64", choices=locks.CONDA_PLATFORMS)
    constraints.set_defaults(handler=_lock_constraints)

    check_locks = commands.add_parser(
        "check-locks", help="check that the pip lock pins the conda lock's versions, with hashes"
    )
    check_locks.add_argument("--conda-lock", default="envs/conda-lock.yml")
    check_locks.add_argument("--pip-lock", default="envs/requirements.lock")
    check_locks.set_defaults(handler=_check_locks)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.handler(args)
    except ReprotrainError as error:
        print(f"reprotrain: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`reprotrain check --configfile ...` finds the run and its record as the run's own
config files name them: config/config.yaml first, each overlay over it."""

from __future__ import annotations

import argparse

import pytest

from reprotrain import cli
from reprotrain.errors import ReprotrainError


def arguments(**given) -> argparse.Namespace:
    fields = {"configfile": None, "run": None, "expected": None, "strict": False}
    return argparse.Namespace(**(fields | {"public_key": None} | given))


def test_check_finds_the_run_and_the_record_from_the_overlay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config/config.yaml").write_text(
        "results: results\nmanifest: {expected: config/manifest.json, strict: false}\n"
    )
    (tmp_path / "config/cars.yaml").write_text(
        "results: results-cars\nmanifest: {expected: config/cars-manifest.json, strict: true}\n"
    )

    found = arguments(configfile=["config/cars.yaml"])
    cli._apply_configfiles(found)
    assert (found.run, found.expected, found.strict) == (
        "results-cars/manifest.json",
        "config/cars-manifest.json",
        True,
    )
    # What is given by hand wins; the base config alone is the default run's.
    by_hand = arguments(configfile=["config/config.yaml"], run="elsewhere/manifest.json")
    cli._apply_configfiles(by_hand)
    assert (by_hand.run, by_hand.expected) == ("elsewhere/manifest.json", "config/manifest.json")
    with pytest.raises(ReprotrainError, match="does not exist"):
        cli._apply_configfiles(arguments(configfile=["config/nope.yaml"]))
    assert cli.main(["check", "--configfile", "config/nope.yaml"]) == 2

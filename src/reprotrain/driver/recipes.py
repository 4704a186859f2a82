"""Each covered output's recipe, from the provenance each rule declares beside itself.

A rule of the Snakefile declares what each of its params means to provenance
(``declare``); ``Recipes`` then sees each rule for concrete wildcards as a
reprotrain.records.provenance.RuleView and follows an output back through uncovered
intermediates to what it was made from. It also says which model bytes the recorded
manifest vouches for (``recorded_model_sha256``). The rules are read through the adapter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from reprotrain.driver import snakemake_adapter as adapter
from reprotrain.driver.plan import VALIDATE_RULE, Plan
from reprotrain.environment import drift
from reprotrain.hashing import sha256_file
from reprotrain.records import provenance


class Recipes:
    """The rules of one workflow (Snakemake's ``rules`` object) with their declarations."""

    def __init__(self, plan: Plan, rules: Any, raw_input: Callable[[Any], Any]) -> None:
        self.plan = plan
        self.rules = rules
        # The raw data input of preprocess, as Snakemake gets it (a storage object for a URL).
        self.raw_input = raw_input
        self.declarations: dict[str, provenance.Declaration] = {}

    def declare(self, rule_name: str, **meaning: Any) -> None:
        """Declare what each param of a rule (named as this workflow names it, whatever
        prefix a host workflow gives it) means to provenance
        (reprotrain.records.provenance.Declaration)."""
        declaration = provenance.Declaration(**meaning)
        proxy = getattr(self.rules, rule_name)
        try:
            declaration.check(rule_name, proxy.params.keys(), proxy.input.keys())
        except ValueError as error:
            raise adapter.Error(str(error)) from None
        self.declarations[rule_name] = declaration

    def check_declared(self, workflow: Any, module_globals: Mapping[str, Any]) -> None:
        """Each producer of files in this workflow declares its provenance: an undeclared
        one would silently turn into a plain input file."""
        declared = [getattr(self.rules, name) for name in self.declarations]
        for name in adapter.undeclared_rules(workflow, module_globals, declared):
            raise adapter.Error(
                f"{name} does not declare its provenance (reprotrain.records."
                "provenance.Declaration): add a declare_provenance() call beside it"
            )

    # --- a rule for concrete wildcards -------------------------------------------------

    def view(self, name: str, wildcards: Mapping[str, Any]) -> provenance.RuleView:
        return self._view(name, tuple(sorted(wildcards.items())))

    # A rule's view is part of the recipe of each output it leads to: built once per job.
    @functools.cache  # noqa: B019  (one Recipes per workflow, alive as long as it)
    def _view(self, name: str, wildcard_items: tuple[tuple[str, Any], ...]) -> provenance.RuleView:
        wildcards = dict(wildcard_items)
        values = adapter.wildcards(wildcards)
        proxy = getattr(self.rules, name)
        declaration = self.declarations[name]
        output_names = {str(output): key for key, output in proxy.output.items()}
        inputs = []
        for input_name, item in proxy.input.items():
            for each in list(item) if isinstance(item, list) else [item]:
                value = _evaluate(each, wildcards, values)
                files = [value] if isinstance(value, str) else value
                pattern = str(each) if isinstance(each, str) else None
                inputs.append(provenance.RuleInput(input_name, pattern, tuple(map(str, files))))
        return provenance.RuleView(
            name=name,
            declaration=declaration,
            outputs={str(output): output_names.get(str(output)) for output in proxy.output},
            inputs=tuple(inputs),
            # What is no provenance is not evaluated (it may need the job's input or a record).
            params={
                key: _evaluate(value, wildcards, values)
                for key, value in proxy.params.items()
                if key not in declaration.not_provenance
            },
            packages_record=drift.packages_record_path(_evaluate(proxy.log[0], wildcards, values)),
        )

    @functools.cache  # noqa: B019
    def _producers(self, kind: str = "classification") -> dict[str, str]:
        """Each output pattern -> the rule that makes it for a dataset of this kind of task."""
        others = set(VALIDATE_RULE.values()) - {VALIDATE_RULE[kind]}
        return {
            str(output): name
            for name in self.declarations
            if name not in others
            for output in getattr(self.rules, name).output
        }

    # --- recipes -------------------------------------------------------------------------

    def recipe(self, pattern: str, wildcards: Mapping[str, Any]) -> dict[str, Any]:
        if "dataset" not in wildcards:
            return provenance.recipe(
                pattern, wildcards, self.view, self._producers(), self._context(None, None)
            )
        dataset, version = wildcards["dataset"], wildcards["version"]
        producers = self._producers(self.plan.task_kinds[dataset])
        context = self._context(dataset, version)
        return provenance.recipe(pattern, wildcards, self.view, producers, context)

    @functools.cache  # noqa: B019
    def _context(self, dataset: str | None, version: str | None) -> provenance.RecipeContext:
        """What the recipes of one data version's outputs share (None: of no data version)."""
        covered = frozenset(self.plan.layout.covered)
        if dataset is None:
            return provenance.RecipeContext(covered, self.plan.locks)
        values = {"dataset": dataset, "version": version}
        data_version = self.plan.data_version(values)
        raw = data_version.location and str(self.raw_input(adapter.wildcards(values)))
        data_input = {"kind": "data", "sha256": data_version.input_digest}
        return provenance.RecipeContext(covered, self.plan.locks, raw, data_input)

    def output_recipes(self) -> dict[str, dict[str, Any]]:
        """For each covered output: the rule that made it and what it was made from."""
        out = self.plan.layout.out
        recipes = {}
        for path, (key, output_wildcards) in self.plan.layout.covered.items():
            recipe = self.recipe(out[key], output_wildcards)
            recipes[path] = {
                "rule": recipe["rule"],
                "role": self.plan.layout.role(key),
                "pattern": out[key],
                "inputs": recipe["inputs"],
                "params_digest": recipe["params_digest"],
                "code_digest": recipe["code_digest"],
            }
        return recipes

    @functools.cached_property
    def _active_lock_sha256(self) -> str:
        return sha256_file(self.plan.in_source(self.plan.active_lock))

    def recorded_model_sha256(self, wildcards: Mapping[str, Any]) -> str | None:
        """model.pkl's sha256 in the recorded manifest when that record is of this very
        recipe: the same params, code and data, the same lock with no drift, the same
        pinned numerics. validate then unpickles those bytes (or a retrained model this
        directory's save sealed); None when no record applies."""
        plan = self.plan
        pin = plan.numerics
        if plan.recorded is None or pin is None or (not plan.use_conda and plan.drift_found):
            return None
        values = dict(wildcards.items())
        pattern = plan.layout.out["model"]
        entry = plan.recorded["files"].get(adapter.apply_wildcards(pattern, values))
        environment = plan.recorded["provenance"]["environment"]
        hardware = environment.get("hardware") or {}
        if (
            entry is None
            or environment.get("drift")
            or environment.get("lock")
            != {"path": plan.active_lock, "sha256": self._active_lock_sha256}
            or hardware.get("machine") != pin.machine
            or hardware.get("pin") != {"blas_kernel": pin.blas_kernel, "simd": pin.simd}
        ):
            return None
        recipe = self.recipe(pattern, values)
        if (
            recipe["params_digest"] != entry["params_digest"]
            or recipe["code_digest"] != entry["code_digest"]
        ):
            return None
        for name, item in recipe["inputs"].items():
            recorded_input = entry["inputs"].get(name)
            if item["kind"] == "data" and (
                recorded_input is None or recorded_input["sha256"] != item["sha256"]
            ):
                return None
        return entry["sha256"]


def _evaluate(item: Any, wildcards: Mapping[str, Any], values: Any) -> Any:
    """A rule's input or param item for concrete wildcards, as Snakemake would see it."""
    if callable(item):
        return item(values)
    if isinstance(item, str):
        return adapter.apply_wildcards(item, wildcards)
    return item

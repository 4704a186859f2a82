"""Strict YAML: no aliases, no duplicate keys, one message naming the key and the lines."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reprotrain import yamlfile
from reprotrain.errors import ReprotrainError


def refused(tmp_path, text: bytes | str) -> ReprotrainError:
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ReprotrainError) as error:
        yamlfile.load(path, "config file")
    return error.value


def test_a_plain_document_loads_as_safe_load_does(tmp_path):
    text = "a: 1\nb: [x, {c: 2.5, d: null}]\nv1.0: {kind: file}\n"
    (tmp_path / "c.yaml").write_text(text)
    assert yamlfile.load(tmp_path / "c.yaml", "config file") == yaml.safe_load(text)


def test_a_duplicate_key_is_named_with_both_lines(tmp_path):
    error = refused(tmp_path, "datasets:\n  iris:\n    v1: {}\n    v2: {}\n    v1: {}\n")
    assert error.field == "datasets.iris.v1"
    assert "lines 3 and 5" in error.message
    assert "keep one" in error.fix


def test_keys_of_other_types_are_not_duplicates(tmp_path):
    (tmp_path / "c.yaml").write_text("1: a\n'1': b\n")
    assert yamlfile.load(tmp_path / "c.yaml", "config file") == {1: "a", "1": "b"}


def test_a_shared_value_within_the_bound_loads(tmp_path):
    text = "base: &b {seed: 1}\nsweep:\n  - *b\n  - *b\n"
    (tmp_path / "c.yaml").write_text(text)
    assert yamlfile.load(tmp_path / "c.yaml", "config file") == yaml.safe_load(text)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
    error = refused(tmp_path, "\n".join(levels) + "\n")
    assert error.field == "a11"  # the key that expands most: 9**12 values
    assert "expands through YAML aliases to" in error.message


@settings(max_examples=12, deadline=None)
@given(entries=st.integers(min_value=1, max_value=6000), columns=st.integers(1, 40))
@example(entries=5001, columns=30)  # the registry an audit saw refused
def test_a_large_honest_registry_sharing_one_schema_loads(tmp_path_factory, entries, columns):
    """5,001 datasets sharing one schema through an anchor were refused as a bomb: the
    bound grows with what the document writes."""
    schema = (
        "{target: t, classes: [0, 1], features: ["
        + ", ".join(f"f{i}" for i in range(columns))
        + "]}"
    )
    lines = [
        "datasets:",
        "  d0:",
        "    v1: {kind: file, source: data/d0.csv, sha256: x, schema: &s " + schema + "}",
    ]
    lines += [
        f"  d{i}:\n    v1: {{kind: file, source: data/d{i}.csv, sha256: x, schema: *s}}"
        for i in range(1, entries)
    ]
    path = tmp_path_factory.mktemp("registry") / "datasets.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert len(yamlfile.load(path, "dataset registry")["datasets"]) == entries


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(2, 12), width=st.integers(2, 12))
def test_an_alias_bomb_is_refused_from_any_source_before_it_expands(tmp_path_factory, depth, width):
    """Nested aliases, in a file or parsed by Snakemake from --config (shared objects):
    refused exactly when the expansion passes the bound, in time linear in what is written."""
    text = (
        "[&a0 ["
        + ", ".join(["x"] * width)
        + "]"
        + "".join(
            f", &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]"
            for level in range(1, depth)
        )
        + "]"
    )
    expanded = 1 + sum(sum(width**k for k in range(level + 2)) for level in range(depth))
    written = 1 + depth * (width + 1)
    too_many = expanded > max(yamlfile.MAX_VALUES, yamlfile.MAX_GROWTH * written)
    path = tmp_path_factory.mktemp("bomb") / "c.yaml"
    path.write_text(f"bomb: {text}\n")
    for check in (
        lambda: yamlfile.load(path, "config file"),
        lambda: yamlfile.check_expansion(
            {"bomb": yaml.load(text, Loader=yaml.BaseLoader)}, "--config"
        ),
    ):
        if too_many:
            with pytest.raises(ReprotrainError, match="expands through YAML aliases"):
                check()
        else:
            check()


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"seed: \xff\n", "not UTF-8"), ("seed: [1\n", "not valid YAML")],
)
def test_unreadable_files_get_one_message(tmp_path, content, problem):
    assert problem in refused(tmp_path, content).message


def test_a_directory_is_named_as_such(tmp_path):
    (tmp_path / "c.yaml").mkdir()
    with pytest.raises(ReprotrainError, match="is a directory"):
        yamlfile.load(tmp_path / "c.yaml", "dataset registry")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("seed: 042\n", "042 (line 1) is read by YAML as the number 34 (octal)"),
        ("seed: 1:20\n", "1:20 (line 1) is read by YAML as the number 80 (base 60)"),
    ],
)
def test_numbers_in_a_base_nobody_means_are_refused(text, problem):
    with pytest.raises(ReprotrainError) as error:
        yamlfile.check_text(text, "config/bad.yaml", "config file")
    assert error.value.field == "seed"
    assert problem in error.value.problem


@pytest.mark.parametrize("text", ['seed: "042"\n', "seed: 42\n", "rate: 0.10\n", "seed: 0\n"])
def test_quoted_and_ordinary_numbers_pass(text):
    yamlfile.check_text(text, "config/ok.yaml", "config file")


def test_locate_names_the_last_file_that_gives_a_field(tmp_path):
    base, overlay = tmp_path / "config.yaml", tmp_path / "bad.yaml"
    base.write_text("dataset:\n  name: a\n  version: v1\n")
    overlay.write_text("dataset:\n  version: 1.10\n")
    assert yamlfile.locate([base, overlay], "dataset.version") == (str(overlay), 2, "1.10")
    assert yamlfile.locate([base, overlay], "dataset.name") == (str(base), 2, "a")
    assert yamlfile.locate([base, overlay], "seed") is None


keys = st.sampled_from(["seed", "model", "split", "test_fraction", "manifest", "strict"])
nested = st.recursive(
    st.integers() | st.text(max_size=3), lambda inner: st.dictionaries(keys, inner, max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    overrides=st.dictionaries(keys, nested, max_size=3),
    field=st.lists(keys, min_size=1, max_size=3).map(".".join),
)
def test_a_value_given_by_config_is_blamed_on_it(tmp_path_factory, overrides, field):
    """Whatever --config gives overrides every file, and a message about it names --config;
    a field it does not give is found in the files, as before."""
    config = tmp_path_factory.mktemp("c") / "config.yaml"
    config.write_text("seed: 42\nsplit: {test_fraction: 0.25}\nmanifest: {strict: false}\n")
    found = yamlfile.locate([config], field, overrides)
    node = overrides
    given_there = True
    for part in field.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            given_there = False
            break
    if given_there:
        assert found == (yamlfile.COMMAND_LINE, 0, "")
    else:
        assert found is None or found[0] == str(config)

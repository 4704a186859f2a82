"""Strict YAML: no aliases, no duplicate keys, one message naming the key and the lines."""

from __future__ import annotations

import pytest
import yaml

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
    # a0 to a4 hold about 74,000 values together; a5 alone would hold 590,000.
    assert error.field == "a5"
    assert f"more than {yamlfile.MAX_VALUES} values" in error.message


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

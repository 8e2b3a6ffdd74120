"""Bad input on the command line: one line naming the file, key or argument, exit 2, no traceback."""

import pytest
from conftest import run_cli


def one_line_error(result, *expected):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(e in lines[0] for e in expected), lines[0]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ('{"seed": 1,}', ["--spec: not valid JSON"]),
        ("@{missing}", ["--spec file", "does not exist"]),
        ("@{malformed}", ["--spec file", "not valid YAML", "line 3"]),
        ("@{twice}", ["key 'seed' appears twice"]),
        ('{"models": {"seeds": [1.5]}}', ["config key 'models.seeds.0'"]),
    ],
)
def test_corpus_spec_errors(tmp_path, spec, expected):
    (tmp_path / "malformed.yaml").write_text("seed: 1\ncorpus: [unclosed\n")
    (tmp_path / "twice.yaml").write_text("seed: 1\nseed: 2\n")
    for name in ("missing", "malformed", "twice"):
        spec = spec.replace("{" + name + "}", str(tmp_path / f"{name}.yaml"))
    one_line_error(run_cli("corpus", "--spec", spec, "--out", tmp_path / "corpus"), *expected)
    assert not (tmp_path / "corpus").exists()


def test_train_before_the_shards_exist(tmp_path):
    (tmp_path / "cfg.yaml").write_text("models: {sizes: {a: {d_model: 16, n_layers: 1, n_heads: 2}}}\n")
    result = run_cli("train", "--data", tmp_path / "data", "--config", tmp_path / "cfg.yaml", "--model", "a-1M-s0")
    one_line_error(result, "meta.json does not exist", "emergence shards")


@pytest.mark.parametrize("command", ["fit-threshold", "fit-scaling"])
def test_fits_of_a_directory(tmp_path, command):
    one_line_error(run_cli(command, tmp_path), str(tmp_path), "is a directory")


def test_usage_errors_are_one_line(tmp_path):
    one_line_error(
        run_cli("evaluate", "--checkpoint", tmp_path, "--out", tmp_path / "o.parquet"),
        "--checkpoint needs --task-file, --format",
    )

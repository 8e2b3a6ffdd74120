import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from emergence.config import (
    MODEL_NAME_PATTERN,
    StudyConfig,
    find_run,
    format_tokens,
    load_config,
    model_grid,
    parse_tokens,
    validate,
)
from emergence.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_dataclasses_mirror_the_schema_which_alone_holds_defaults():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    import emergence.config as c

    for section, cls in [
        ("training", "TrainingConfig"),
        ("tokenizer", "TokenizerConfig"),
        ("analysis", "AnalysisConfig"),
        ("plots", "PlotsConfig"),
        ("models", "ModelsConfig"),
        ("corpus", "CorpusConfig"),
        ("logging", "LoggingConfig"),
    ]:
        fields = getattr(c, cls).__dataclass_fields__.values()
        assert {f.name for f in fields} == set(schema[section]["properties"]), section
        assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields), cls
    assert (
        StudyConfig.from_dict({}).training.learning_rate == schema["training"]["properties"]["learning_rate"]["default"]
    )


def test_schema_fills_defaults_without_touching_input():
    raw = {"training": {"batch_size": 4}}
    cfg = validate(raw)
    assert raw == {"training": {"batch_size": 4}}
    assert cfg["training"]["batch_size"] == 4 and cfg["training"]["learning_rate"] == 0.003
    assert cfg["models"]["sizes"]["w32l2"]["mlp_ratio"] == 4


SHIPPED = [
    "config/config.yaml",
    "config/smoke.yaml",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "config/studies").glob("*.yaml")),
]


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_are_valid(path):
    cfg = load_config(ROOT / path)
    assert len(model_grid(cfg)) >= 2


def test_each_ready_study_names_itself_and_runs_in_its_own_folder():
    """`make study STUDY=name` runs config/studies/name.yaml in studies/name/; a config's `study`
    key is its name, so the report and its outputs say which ready study they are."""
    ready = sorted((ROOT / "config/studies").glob("*.yaml"))
    assert {p.stem for p in ready} >= {"long_context", "instruct"}
    for p in ready:
        assert load_config(p).study == p.stem
    dry = subprocess.run(["make", "-n", "study", "STUDY=long_context"], cwd=ROOT, capture_output=True, text=True)
    assert "--configfile config/studies/long_context.yaml --directory studies/long_context" in dry.stdout


def test_an_unknown_ready_study_is_one_line_and_exit_2():
    out = subprocess.run(
        ["make", "--no-print-directory", "-s", "study", "STUDY=nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 2
    first = out.stderr.splitlines()[0]
    assert first.startswith("make study: no config/studies/nope.yaml; ready studies:") and "long_context" in first


@pytest.mark.parametrize(
    "raw, key, hint",
    [
        ({"trainig": {}}, "<top level>", "allowed keys: study, seed"),
        ({"tokenizer": {"vocab": 300}}, "tokenizer", "Additional properties are not allowed ('vocab' was unexpected)"),
        ({"training": {"batch_size": "32"}}, "training.batch_size", "not of type 'integer'"),
        ({"training": {"learning_rate": -1}}, "training.learning_rate", "less than or equal to the minimum of 0"),
        ({"corpus": {"source": "web"}}, "corpus.source", "['synthetic', 'files']"),
        (
            {"models": {"sizes": {"Big;rm -rf": {"d_model": 8, "n_layers": 1, "n_heads": 1}}}},
            "models.sizes",
            "lowercase",
        ),
        ({"models": {"sizes": {"a": {"d_model": 30, "n_layers": 1, "n_heads": 4}}}}, "models.sizes.a", "divisible"),
        ({"models": {"sizes": {"a": {"d_model": 32, "n_layers": 1}}}}, "models.sizes.a", "'n_heads' is a required"),
        ({"corpus": {"source": "files"}}, "corpus.files", "no files"),
        ({"models": {"token_budgets": [4000]}}, "models.token_budgets", "needs at least 49152 tokens"),
        ({"models": {"token_budgets": [1_000_000, 1_000_000.0]}}, "models.token_budgets", "non-unique elements"),
        ({"models": {"seeds": [0.5]}}, "models.seeds.0", "not of type 'integer'"),
        ({"tasks": {"wet": {"kind": "weather", "labels": ["gold", "ood"]}}}, "tasks.wet", "sentiment only"),
    ],
)
def test_bad_config_names_the_key_in_one_line(raw, key, hint):
    with pytest.raises(ConfigError) as err:
        StudyConfig.from_dict(raw)
    message = str(err.value)
    assert "\n" not in message
    assert f"'{key}'" in message and hint in message


def test_whole_floats_are_integers():
    """YAML writes 8000.0 for a number some tools emit; JSON Schema counts it as an integer, so must we."""
    cfg = StudyConfig.from_dict({"models": {"token_budgets": [2_000_000.0], "seeds": [1.0]}})
    assert [r.name for r in model_grid(cfg)][0] == "w32l2-2M-s1"
    assert isinstance(cfg.models.token_budgets[0], int) and isinstance(cfg.models.seeds[0], int)


def test_a_key_given_twice_is_rejected(tmp_path):
    (tmp_path / "twice.yaml").write_text(
        "models:\n  sizes:\n    a: {d_model: 16, n_layers: 1, n_heads: 2}\n"
        "    a: {d_model: 32, n_layers: 1, n_heads: 2}\n"
    )
    with pytest.raises(ConfigError, match=r"twice.yaml: not valid YAML \(key 'a' appears twice at line 4"):
        load_config(tmp_path / "twice.yaml")


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


@pytest.mark.parametrize("n", [1000, 1500, 2_000_000, 1_500_000, 3_000_000_000, 12345])
def test_token_spelling_round_trips(n):
    assert parse_tokens(format_tokens(n)) == n


def test_grid_is_sizes_by_budgets_by_seeds_with_safe_names():
    cfg = StudyConfig.from_dict({"models": {"token_budgets": [50_000, 2_000_000], "seeds": [0, 7]}})
    runs = model_grid(cfg)
    assert len(runs) == len(cfg.models.sizes) * 2 * 2
    assert len({r.name for r in runs}) == len(runs)
    assert all(re.fullmatch(MODEL_NAME_PATTERN, r.name) for r in runs)
    assert find_run(cfg, "w64l2-2M-s7").tokens == 2_000_000
    with pytest.raises(ConfigError, match="not in the grid"):
        find_run(cfg, "w64l2-3M-s7")


def test_wsd_needs_the_warmup_to_end_before_the_cool_down():
    small = {"models": {"context": 16, "token_budgets": [1600, 160000]}}
    # 10 steps: a 50% warmup and a 60% cool-down overlap.
    with pytest.raises(ConfigError, match=r"^config key 'training.cooldown_fraction': with schedule wsd"):
        validate(
            {
                **small,
                "training": {"batch_size": 10, "n_checkpoints": 2, "warmup_fraction": 0.5, "cooldown_fraction": 0.6},
            }
        )
    ok = validate({**small, "training": {"batch_size": 10, "n_checkpoints": 2}})
    assert ok["training"]["schedule"] == "wsd"


def test_trunks_are_one_per_size_and_seed_and_know_every_budget():
    from emergence.config import trunk_of

    cfg = StudyConfig.from_dict({"models": {"token_budgets": [3000000, 1000000], "seeds": [0, 1]}})
    trunks = {trunk_of(cfg, run) for run in model_grid(cfg)}
    assert len(trunks) == len(cfg.models.sizes) * 2
    assert {t.budgets for t in trunks} == {(1000000, 3000000)}
    assert {t.name for t in trunks} >= {"w64l2-s0", "w64l2-s1"}

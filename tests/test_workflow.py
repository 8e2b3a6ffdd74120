"""The real Snakemake workflow on the smoke study (one run per test session, the `smoke_study`
fixture), its report, and what reruns when the config changes."""

import json
import os
import shutil
import subprocess
import sys

import markupsafe
import numpy as np
import pandas as pd
import pytest
from helpers import INSTRUCT, LONG_CONTEXT, SMOKE_CONFIG, offline_wandb_env, planned_jobs, read_wandb, snakemake

from emergence.analysis.collect import RESULT_COLUMNS
from emergence.report.catalog import FIGURES
from emergence.report.page import not_drawn

pytestmark = pytest.mark.slow
# Jobs after evaluation that any new result reruns (the report also reruns on any config change).
DOWNSTREAM = {"collect": 1, "analyze": 1, "forecast": 1, "figure": len(FIGURES), "report": 1}


@pytest.fixture
def study(smoke_study):
    return smoke_study


def test_smoke_study_runs_end_to_end(study):
    for split in ("train", "val"):
        assert (study / "results/data" / f"{split}.npy").exists()
    models = sorted(p.name for p in (study / "results/models").iterdir())
    assert models == ["a-8192-s0", "b-8192-s0"]
    for m in models:
        log = (study / "results/models" / m / "train_log.jsonl").read_text().splitlines()
        assert json.loads(log[-1])["val_loss"] > 0
        assert (study / "benchmarks/train" / f"{m}.tsv").exists()
        for task in SMOKE_CONFIG["tasks"]:
            table = pd.read_parquet(study / "results/evals" / m / f"{task}.parquet")
            steps = json.loads((study / "results/models" / m / "model.json").read_text())["checkpoint_steps"]
            assert sorted(table.step.unique()) == steps
            assert (study / "results/evals" / m / f"{task}.samples.parquet").exists()
    for task in SMOKE_CONFIG["tasks"]:
        assert json.loads((study / "results/tasks" / f"{task}.json").read_text())["contamination"] == 0


def test_study_ends_with_tables_figures_and_report(study):
    results = pd.read_csv(study / "reports/tables/results.csv")
    assert set(RESULT_COLUMNS) <= set(results.columns)
    assert results["loss"].notna().all() and set(results["task"]) == set(SMOKE_CONFIG["tasks"])
    page = (study / "reports/index.html").read_text()
    thresholds = pd.read_csv(study / "reports/tables/thresholds.csv")
    assert {"task", "prompt", "metric", "verdict", "threshold", "ci_low", "ci_high", "chance", "spearman"} <= set(
        thresholds.columns
    )
    assert set(thresholds["verdict"]) <= {"emergent", "smooth", "flat", "inconclusive"}
    for figure in FIGURES:
        for fmt in ("png", "svg"):
            assert (study / "reports/figures" / f"{figure.name}.{fmt}").stat().st_size > 1000
        # Every figure is on the page: drawn, with its caption, or named with why it was not.
        reason = not_drawn(study / "reports/figures" / f"{figure.name}.png")
        if reason is None:
            assert figure.title in page and str(markupsafe.escape(figure.caption)) in page
        else:
            assert f'"{markupsafe.escape(figure.title)}" ({markupsafe.escape(reason).rstrip(".")}' in page
    assert "Thresholds" in page and "data:image/png;base64" in page and "study: smoke" in page
    assert "CPU utilisation" in page and "train (WSD trunks)" in page and "evaluate" in page
    # Chain of thought against standard prompting, paired on the same checkpoints and items.
    prompts = pd.read_csv(study / "reports/tables/prompts.csv")
    assert [tuple(r) for r in prompts[["task", "prompt", "baseline"]].to_numpy()] == [("addition", "cot", "standard")]
    assert "Prompts compared: chain of thought" in page and prompts["finding"].iloc[0] in page
    # Two sizes leave one to forecast the other from: the stage says so instead of failing.
    assert pd.read_csv(study / "reports/tables/forecast.csv").empty
    note = json.loads((study / "reports/tables/forecast.json").read_text())["note"]
    assert "leaves 1 size(s)" in note and note in page
    # The long-context and instruction-tuning stages are off: empty tables, figures that say so.
    assert pd.read_csv(study / "reports/tables/long_context.csv").empty
    assert pd.read_csv(study / "reports/tables/instruct.csv").empty and "Instruction tuning</h2>" not in page


def _browser():
    """The system's Chromium (Debian's package; `make test` installs it where it can), or a skip."""
    path = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium): the report is not checked in a browser")
    return path


def check_report_order(page):
    """The page opens like a paper's first page: the summary and the headline figure, then the
    thresholds table, then the folded details; the figure starts within the first ~1200 px."""
    page.evaluate("window.scrollTo(0, 0)")  # bounding boxes are measured from the viewport's top

    def top(selector: str) -> float:
        assert page.locator(selector).count(), f"{selector}: not on the page"
        box = page.locator(selector).first.bounding_box()
        assert box is not None, f"{selector}: not on the page, or not visible"
        return box["y"]

    figure, summary = top('img[alt="performance_vs_loss"]'), top("#summary")
    table, details = top("#thresholds table"), top("details")
    assert page.locator("img").first.get_attribute("alt") == "performance_vs_loss"
    assert "Summary." in page.locator("#summary").inner_text()
    order = {"figure": figure, "summary": summary, "table": table, "details": details}
    assert max(figure, summary) < table < details, order
    assert figure < 1200, f"the headline figure starts {figure:.0f} px down the page"


def test_published_report_reads_in_a_real_browser(study, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    page_path = study / "reports/index.html"
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=_browser(), args=["--no-sandbox"])
        except sync_api.Error as e:
            pytest.skip(f"Chromium does not start here: {str(e).splitlines()[0]}")
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri(), wait_until="load")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
        tables = page.eval_on_selector_all(
            "table", "els => els.map(e => [e.rows.length, e.rows[0] ? e.rows[0].cells.length : 0])"
        )
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        anchors = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        check_report_order(page)
        page.screenshot(path=tmp_path / "report.png", full_page=True)
        browser.close()
    assert errors == []
    drawn = [f.name for f in FIGURES if not_drawn(study / "reports/figures" / f"{f.name}.png") is None]
    assert "performance_vs_loss" in drawn and sorted(alt for alt, *_ in images) == sorted(drawn)
    assert all(done and width > 100 for _, done, width in images), images
    assert len(tables) >= 3 and all(rows >= 2 and cells >= 2 for rows, cells in tables), tables
    for href in links:
        if href.startswith("#"):
            assert href[1:] in anchors, href
        else:
            assert not href.startswith(("http:", "https:")), f"the report links outside itself: {href}"
            assert (page_path.parent / href).exists(), href
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_snakemake_report_is_built(study):
    result = snakemake(study, "--report", "reports/report.zip")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (study / "reports/report.zip").stat().st_size > 10_000


def test_changing_a_plot_option_reruns_only_figures_and_report(study):
    result = snakemake(study, "-n", change={"plots": {"dpi": 90}})
    assert planned_jobs(result) == {"all": 1, "figure": len(FIGURES), "report": 1}


def test_second_run_has_nothing_to_do(study):
    result = snakemake(study, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_training_settings_reruns_only_training(study):
    result = snakemake(study, "-n", change={"training": {**SMOKE_CONFIG["training"], "learning_rate": 0.005}})
    # WSD (the default): the two trunks, the models branching off them, their evaluations.
    assert planned_jobs(result) == {"all": 1, "trunk": 2, "train": 2, "evaluate": 2, **DOWNSTREAM}


def test_switching_on_weights_and_biases_retrains_nothing(study, tmp_path):
    # Logging changes no result: the training jobs get it outside their params, so a finished
    # study only writes its report again (the page prints the config).
    logging = {"wandb": {"enabled": True, "project": "smoke-test", "mode": "offline"}}
    assert planned_jobs(snakemake(study, "-n", change={"logging": logging})) == {"all": 1, "report": 1}
    # ...while a training job that runs logs to W&B: here a trunk run again in a copy, which
    # resumes at its last checkpoint, so its W&B run has nothing new to log.
    work = tmp_path / "study"
    shutil.copytree(study, work, symlinks=True)
    env = {**os.environ, **offline_wandb_env(tmp_path)}
    forced = snakemake(work, "--force", "results/trunks/a-s0/trunk.json", change={"logging": logging}, env=env)
    assert forced.returncode == 0, forced.stderr[-2000:]
    (run_dir,) = (work / "results/trunks/a-s0/wandb").glob("offline-run-*")
    run, history = read_wandb(run_dir)
    assert (run["name"], run["group"], history) == ("a-s0", "smoke", {})


def test_new_model_size_trains_only_that_model(study):
    models = SMOKE_CONFIG["models"]
    sizes = {**models["sizes"], "c": {"d_model": 24, "n_layers": 1, "n_heads": 2}}
    result = snakemake(study, "-n", change={"models": {**models, "sizes": sizes}})
    assert planned_jobs(result) == {"all": 1, "trunk": 1, "train": 1, "evaluate": 1, **DOWNSTREAM}


def test_changing_the_corpus_reruns_everything_downstream(study):
    result = snakemake(study, "-n", change={"seed": 1})
    assert planned_jobs(result) == {
        "all": 1,
        "corpus": 1,
        "tokenizer": 1,
        "shards": 1,
        "trunk": 2,
        "train": 2,
        "task": 5,
        "evaluate": 2,
        **DOWNSTREAM,
    }


def test_adding_the_long_context_or_instruction_stage_reruns_nothing_upstream(study):
    # Each stage added alone trains and evaluates nothing again: it extends and probes each
    # model, or builds one dataset and tunes each model.
    assert planned_jobs(snakemake(study, "-n", change={"long_context": LONG_CONTEXT})) == {
        "all": 1,
        "extend": 2,
        "long_context": 2,
        **DOWNSTREAM,
    }
    assert planned_jobs(snakemake(study, "-n", change={"instruct": INSTRUCT})) == {
        "all": 1,
        "instruction_data": 1,
        "instruct": 2,
        **DOWNSTREAM,
    }


@pytest.fixture(scope="module")
def both_stages(smoke_study, tmp_path_factory):
    """A copy of the smoke study with the long-context and instruction-tuning stages added, run."""
    work = tmp_path_factory.mktemp("stages") / "study"
    shutil.copytree(smoke_study, work, symlinks=True)
    change = {"long_context": LONG_CONTEXT, "instruct": INSTRUCT}
    result = snakemake(work, change=change)
    assert result.returncode == 0, result.stderr[-3000:]
    return work, change


def test_the_long_context_stage_runs_on_the_trained_models_and_reruns_only_itself(both_stages):
    work, change = both_stages
    table = pd.read_csv(work / "reports/tables/long_context.csv")
    assert set(table["probe"]) == {"position", "passkey", "many_shot"}
    assert set(table["model"]) == {"a-8192-s0", "b-8192-s0"}
    assert set(table["method"]) == {"cut", "none", "yarn", "yarn_tuned"}
    page = (work / "reports/index.html").read_text()
    assert "Reading past the trained context" in page and str(markupsafe.escape("plain RoPE's loss is")) in page
    # A probe setting reruns the probes only; the extension's settings rerun it and the probes.
    more = {**change, "long_context": {**LONG_CONTEXT, "windows": 3}}
    assert planned_jobs(snakemake(work, "-n", change=more)) == {"all": 1, "long_context": 2, **DOWNSTREAM}
    longer = {**change, "long_context": {**LONG_CONTEXT, "extend": {**LONG_CONTEXT["extend"], "steps": 6}}}
    assert planned_jobs(snakemake(work, "-n", change=longer)) == {
        "all": 1,
        "extend": 2,
        "long_context": 2,
        **DOWNSTREAM,
    }


def test_instruction_tuning_runs_on_the_trained_models_and_reruns_only_itself(both_stages):
    work, change = both_stages
    table = pd.read_csv(work / "reports/tables/instruct.csv")
    assert set(table["model"]) == {"a-8192-s0", "b-8192-s0"} and set(table["prompt"]) == {"tuned", "base"}
    assert set(table["task"]) == {f"instruct_{f}" for f in ("last_word", "add3", "fact", "judge")}
    # Each row sits at its base checkpoint's pretraining loss, the results table's loss there.
    losses = pd.read_csv(work / "reports/tables/results.csv").groupby(["model", "step"])["loss"].first()
    assert np.allclose(table["loss"], losses.loc[list(zip(table["model"], table["step"]))].to_numpy())
    thresholds = pd.read_csv(work / "reports/tables/instruct_thresholds.csv")
    assert {"exact_match", "tuning_gain"} <= set(thresholds["metric"])
    assert set(thresholds["prompt"]) == {"tuned", "base"}
    page = (work / "reports/index.html").read_text()
    assert "Instruction tuning</h2>" in page
    assert "After instruction tuning, exact match on held-out families has a loss" in page
    assert "instruction tuning (tune + evaluate)" in page  # its row in the run-time table
    # A tuning setting reruns the tunings only; a dataset setting rebuilds the dataset too.
    steps = {**change, "instruct": {**INSTRUCT, "steps": 8}}
    assert planned_jobs(snakemake(work, "-n", change=steps)) == {"all": 1, "instruct": 2, **DOWNSTREAM}
    items = {**change, "instruct": {**INSTRUCT, "n_items": 5}}
    assert planned_jobs(snakemake(work, "-n", change=items)) == {
        "all": 1,
        "instruction_data": 1,
        "instruct": 2,
        **DOWNSTREAM,
    }


def test_adding_a_task_adds_only_its_jobs(study):
    # One evaluation job per model covers every task; it evaluates only what is new (below).
    tasks = {**SMOKE_CONFIG["tasks"], "facts": {"kind": "fact_choice", "n_items": 8}}
    assert planned_jobs(snakemake(study, "-n", change={"tasks": tasks})) == {
        "all": 1,
        "task": 1,
        "evaluate": 2,
        **DOWNSTREAM,
    }


def test_changing_one_task_evaluates_only_that_task(study, tmp_path):
    tasks = {**SMOKE_CONFIG["tasks"], "sentiment": {**SMOKE_CONFIG["tasks"]["sentiment"], "shots": [0, 1]}}
    assert planned_jobs(snakemake(study, "-n", change={"tasks": tasks})) == {
        "all": 1,
        "task": 1,
        "evaluate": 2,
        **DOWNSTREAM,
    }
    work = tmp_path / "study"
    shutil.copytree(study, work, symlinks=True)
    evals = work / "results/evals/a-8192-s0"
    before = {t: pd.read_parquet(evals / f"{t}.parquet") for t in SMOKE_CONFIG["tasks"]}
    # Up to the evaluation tables, which is what this checks (the rest reruns as above).
    result = snakemake(work, "--until", "evaluate", change={"tasks": tasks})
    assert result.returncode == 0, result.stderr[-3000:]
    headlines = json.loads((work / "logs/evals/a-8192-s0.log").read_text().strip().splitlines()[-1])
    assert {t for t, h in headlines.items() if h.get("reused")} == set(SMOKE_CONFIG["tasks"]) - {"sentiment"}
    for task in set(SMOKE_CONFIG["tasks"]) - {"sentiment"}:  # the same tables, linked back
        pd.testing.assert_frame_equal(pd.read_parquet(evals / f"{task}.parquet"), before[task])
    assert set(pd.read_parquet(evals / "sentiment.parquet")["shots"]) == {0, 1}
    again = snakemake(work, "-n", "--until", "evaluate", change={"tasks": tasks})
    assert again.returncode == 0 and planned_jobs(again) == {}


def test_a_bad_config_stops_the_workflow_before_any_job_in_one_line(study):
    # Every message is checked through the validator (tests/test_config.py); this is the path
    # through Snakemake: each config file read by the package's loader, then validated.
    text = (study / "config/smoke.yaml").read_text()
    (study / "config/twice.yaml").write_text(text + "seed: 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/twice.yaml"],
        cwd=study,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "key 'seed' appears twice" in output and "Job stats" not in output
    bad = snakemake(study, "-n", change={"training": {"batch_size": "big"}})
    assert bad.returncode != 0 and "Job stats" not in bad.stdout + bad.stderr
    assert "config key 'training.batch_size': 'big' is not of type 'integer'" in bad.stdout + bad.stderr


def test_slurm_profile_is_valid(study):
    # No cluster here: the profile's settings parse and plan the same jobs on the local executor.
    result = snakemake(study, "-n", "--workflow-profile", "profiles/slurm", "--executor", "local")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to be done" in result.stdout + result.stderr

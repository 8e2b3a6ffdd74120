"""The package's layout: one folder per stage, imports that run down the DAG, small modules."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "emergence"
# Lower layers never import higher ones; a stage never imports a sibling stage of its layer.
LAYERS = {
    "__init__": 0,
    "errors": 0,
    "io": 1,
    "config": 2,
    "data": 3,
    "model": 3,
    "train": 4,
    "evaluate": 4,
    "analysis": 5,
    "instruct": 5,
    "report": 6,
    "perf": 7,
    "arguments": 7,
    "perf_commands": 8,
    "context_commands": 8,
    "instruct_commands": 8,
    "cli": 9,
    "__main__": 10,
}
STAGES = ("data", "train", "evaluate", "instruct", "analysis", "report")


def _unit(module: str) -> str:
    """'emergence.evaluate.tasks' -> 'evaluate'; 'emergence' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emergence"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("emergence"))
    return found


def test_imports_run_one_way_down_the_dag():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        unit = rel.parts[0]
        for target in _imports(path):
            other = _unit(target)
            if other not in LAYERS or other == unit:
                continue
            if LAYERS[other] >= LAYERS[unit]:
                wrong.append(f"{'/'.join(rel.parts)} imports {target}")
    assert not wrong, wrong


def test_every_workflow_stage_has_a_folder_and_a_rule_file():
    rules = {p.stem for p in (PACKAGE.parents[1] / "workflow" / "rules").glob("*.smk")} - {"common"}
    assert rules == set(STAGES)
    assert all((PACKAGE / stage / "__init__.py").exists() for stage in STAGES)


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long


def test_every_registered_figure_has_its_drawing_function():
    from emergence.report import figures
    from emergence.report.catalog import FIGURES

    assert all(callable(getattr(figures, f.name, None)) for f in FIGURES)


def test_every_metric_a_scoring_produces_is_registered():
    import numpy as np
    import pandas as pd

    from emergence.evaluate import scoring
    from emergence.evaluate.evaluator import icl_metrics, kshot_gains
    from emergence.evaluate.induction import summarize
    from emergence.evaluate.items import Request
    from emergence.evaluate.metrics import GENERATION, HEADS, ICL, MC, METRICS, produced_by

    gain = kshot_gains(tuple(Request("standard", k, "gold", "i", "", "", "") for k in (0, 2)), [{"acc": 1.0}] * 2)
    demonstrated = {"follows_labels"}  # written by the evaluator under flipped and unrelated labels
    assert set(scoring.mc_metrics([0.0, -1.0], [1, 1], 0)) | set(*gain.values()) | demonstrated == set(produced_by(MC))
    heads = pd.DataFrame({"layer": [0], "head": [0], "prefix_matching": [0.5], "copying": [1.0]})
    assert set(summarize(heads, np.ones((1, 7)), 4)) == set(produced_by(HEADS))
    assert set(icl_metrics(np.ones(32), (0.1, 0.9))) == set(produced_by(ICL))
    assert set(produced_by(GENERATION)) == {
        "exact_match",
        "edit_distance",
        "answer_logprob",
        "answer_logprob_per_token",
    }
    assert all(t in METRICS for m in METRICS.values() for t in m.twins)

"""The package's layout: one folder per stage, imports that run down the DAG without circles
(read from the source by emergence.sources: lazy imports count), small modules."""

from emergence.sources import PACKAGE, import_graph, imports, modules

# Lower layers never import higher ones; a stage never imports a sibling stage of its layer.
LAYERS = {
    "__init__": 0,
    "errors": 0,
    "io": 1,
    "sources": 1,
    "config": 2,
    "data": 3,
    "model": 3,
    "train": 4,
    "evaluate": 4,
    "analysis": 5,
    "instruct": 5,
    "report": 6,
    "perf": 7,
    "cli": 8,
    "__main__": 9,
}
STAGES = ("data", "train", "evaluate", "instruct", "analysis", "report")


def _unit(module: str) -> str:
    """'emergence.evaluate.tasks' -> 'evaluate'; 'emergence' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_imports_run_one_way_down_the_dag():
    wrong = []
    for module, targets in import_graph().items():
        unit = _unit(module)
        for target in sorted(targets):
            other = _unit(target)
            if other in LAYERS and other != unit and LAYERS[other] >= LAYERS[unit]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def cycle_path(graph: dict[str, set[str]], component: frozenset[str]) -> str:
    """One circle through the component's modules, as 'a -> b -> ... -> a' (breadth-first,
    so the shortest back to its first module)."""
    start = min(component)
    came_from = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return " -> ".join([*reversed(path), start])
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"{sorted(component)} is not a circle")


def test_the_graph_sees_function_level_package_and_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from emergence.analysis import simulate, __doc__\n"
        "from .curves import predict\n"
        "\n"
        "def later():\n"
        "    from emergence import io\n"
        "    import emergence.errors\n"
        "    import emergence.analysis.curves.predict\n"
        "    return importlib.import_module('emergence.report.catalog')\n"
    )
    assert imports("emergence.analysis.probe", probe, modules()) == {
        "emergence.analysis.simulate",  # a module named in `from package import ...`
        "emergence.analysis",  # a name of the package's __init__
        "emergence.analysis.curves",
        "emergence.io",
        "emergence.errors",
        "emergence.report.catalog",
    }
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycle_path({"a": {"b"}, "b": {"c", "a"}, "c": {"a"}}, frozenset("abc")) == "a -> b -> a"


def test_no_import_circles():
    graph = import_graph()
    found = [cycle_path(graph, c) for c in circles(graph)]
    assert not found, "import circles:\n" + "\n".join(found)


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

    assert list(figures.DRAWERS) == [f.name for f in FIGURES]  # one drawer per figure, in the registry's order
    assert all(callable(draw) for draw in figures.DRAWERS.values())


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

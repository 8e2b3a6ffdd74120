"""Which code each rule's results depend on comes from the import graph, in one place."""

import shutil
from pathlib import Path

import pytest

from emergence import sources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def package(tmp_path) -> Path:
    copy = tmp_path / "emergence"
    shutil.copytree(sources.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _names(files, root: Path) -> set[str]:
    return {str(Path(f).relative_to(root)) for f in files}


def test_a_rule_depends_on_every_module_its_command_imports_transitively():
    train = _names(sources.rule_code("train"), sources.PACKAGE)
    # loop -> transformer -> rope: a module two imports away, which a hand list once missed.
    assert {"train/loop.py", "model/transformer.py", "model/rope.py", "train/__init__.py", "__init__.py"} <= train
    assert not any(name.startswith(("report/", "analysis/", "cli")) for name in train)
    assert "report/templates/index.html.j2" in _names(sources.rule_code("report"), sources.PACKAGE)


def test_adding_an_import_to_a_stage_module_changes_its_fingerprint(package):
    before = sources.rule_code("train", root=package)
    engine = package / "train" / "engine.py"
    engine.write_text(engine.read_text() + "\n\ndef _late():\n    from emergence.analysis import simulate  # noqa\n")
    after = sources.rule_code("train", root=package)
    added = _names(after, package) - _names(before, package)
    assert {"analysis/simulate.py", "analysis/__init__.py"} <= added
    assert sources.digest(after) != sources.digest(before)


def test_every_rule_of_the_workflow_has_its_code_and_every_entry_exists():
    rules = set()
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        rules |= {line.split()[1].rstrip(":") for line in path.read_text().splitlines() if line.startswith("rule ")}
    assert rules - {"all"} == set(sources.RULES)
    for rule in sources.RULES:
        assert all(Path(f).is_file() for f in sources.rule_code(rule)), rule

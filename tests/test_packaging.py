import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from sync_environment import locked_for_311, name  # noqa: E402


def test_environment_yml_pins_each_dependency_at_its_locked_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    locked = locked_for_311((ROOT / "requirements.lock").read_text())
    assert [name(r) for r in pip] == [name(r) for r in project["dependencies"]]
    assert all(r == f"{name(r)}=={locked[name(r)]}" for r in pip), "run `make lock`"


def test_the_lock_satisfies_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = locked_for_311((ROOT / "requirements.lock").read_text())
    for requirement in project["dependencies"]:
        minimum = re.search(r">=([0-9.]+)", requirement)
        version = locked[name(requirement)]
        assert minimum is None or _version(version) >= _version(minimum.group(1)), requirement


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def test_schema_in_workflow_is_the_package_schema():
    assert (ROOT / "workflow/schemas/config.schema.yaml").read_text() == (
        ROOT / "src/emergence/config/schema.yaml"
    ).read_text()

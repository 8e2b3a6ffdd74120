import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip) == sorted(project["dependencies"])
    assert {_name(r) for r in pip} == {_name(r) for r in project["dependencies"]}


def test_schema_in_workflow_is_the_package_schema():
    assert (ROOT / "workflow/schemas/config.schema.yaml").read_text() == (ROOT / "src/emergence/config.schema.yaml").read_text()

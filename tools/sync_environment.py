"""Rewrite environment.yml's pip list from requirements.lock: each direct dependency of
pyproject.toml pinned to the version locked for Python 3.11 (the conda environment's).
Run by `make lock`; tests/test_packaging.py checks that the two agree."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def locked_for_311(lock_text: str) -> dict[str, str]:
    pins = {}
    for line in lock_text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;]+)\s*(?:;\s*(.*))?$", line.strip())
        if m and (
            m.group(3) is None
            or "python_full_version < '3.12'" in m.group(3)
            or "python_full_version >= '3.12'" not in m.group(3)
        ):
            pins.setdefault(m.group(1).lower(), m.group(2))
    return pins


def main() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = locked_for_311((ROOT / "requirements.lock").read_text())
    env = (ROOT / "environment.yml").read_text()
    head = env[: env.index("  - pip:\n") + len("  - pip:\n")]
    body = "".join(f"      - {name(d)}=={pins[name(d)]}\n" for d in deps)
    (ROOT / "environment.yml").write_text(head + body)


if __name__ == "__main__":
    main()

"""The package's import graph, and from it the source each result depends on.

The graph is read from the source (ast), not from a running interpreter: an import inside a
function, or by importlib.import_module with a literal name, counts as much as one at the top.
tests/test_layout.py checks from it that imports run one way, down the stages, without circles.

A rule's code is the modules its command runs and every module of the package they import,
transitively, with the packages' `__init__.py` that Python runs on the way, plus the data files
they read. `RULES` is the one definition: the workflow's rules list `rule_code(rule)` as inputs,
so Snakemake reruns a job when its code changes (its code trigger does not see inside imported
modules), and the fingerprints that decide whether training resumes or an evaluation is reused
hash the same files. A new import is picked up without anyone editing a list.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

# Each rule's entry modules (and package data files, as paths relative to the package).
RULES = {
    "corpus": ("emergence.data.corpus",),
    "tokenizer": ("emergence.data.tokenizer", "emergence.data.corpus"),
    "shards": ("emergence.data.shards",),
    "trunk": ("emergence.train.loop",),
    "train": ("emergence.train.loop",),
    "extend": ("emergence.train.extend",),
    "task": ("emergence.evaluate.tasks",),
    "evaluate": ("emergence.evaluate.evaluator",),
    "long_context": ("emergence.evaluate.long_context",),
    "instruction_data": ("emergence.instruct.dataset",),
    "instruct": ("emergence.instruct.stage",),
    "collect": ("emergence.analysis.collect",),
    "analyze": ("emergence.analysis.analyze",),
    "forecast": ("emergence.analysis.forecast",),
    "figure": ("emergence.report.figures",),
    "report": ("emergence.report.page", "report/templates/index.html.j2"),
}


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package under `root`, by name ('emergence.train.loop')."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = ("emergence", *path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str | None:
    """The absolute module name of `from X import ...` (relative imports resolved)."""
    if not node.level:
        return node.module
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dynamic(node: ast.AST) -> str | None:
    """The literal module name of an importlib.import_module(...) or __import__(...) call."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return None
    called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    name = node.args[0].value
    return name if called in ("import_module", "__import__") and isinstance(name, str) else None


@functools.lru_cache(maxsize=1024)
def _references(name: str, path: Path, mtime_ns: int, size: int) -> tuple[tuple[str, ...], ...]:
    """Each import in the file, as the modules it may name, most specific first (the first that
    is a module of the package is the one imported). Read once while the file is unchanged."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (dynamic := _dynamic(node)) is not None:
            found.append((dynamic,))
        elif isinstance(node, ast.Import):
            # `import a.b.c` imports the deepest of a.b.c, a.b and a that is a module.
            found += [tuple(a.name.rsplit(".", k)[0] for k in range(a.name.count(".") + 1)) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, name, path.name == "__init__.py")
            found += [(f"{source}.{a.name}", source) for a in node.names] if source else []
    return tuple(found)


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that module `name` (file `path`) imports anywhere in its source.
    `from X import Y` imports module X.Y when there is one, else X (a name defined in X)."""
    stat = path.stat()
    found = {
        next((m for m in names if m in known), None)
        for names in _references(name, path, stat.st_mtime_ns, stat.st_size)
    }
    return found - {None, name}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def closure(*entries: str, root: Path = PACKAGE) -> tuple[Path, ...]:
    """Every file of the package that `entries` (module names, or data files relative to the
    package) run or read, sorted: the modules they import, transitively, and the packages'
    `__init__.py` on the way to each."""
    known = modules(root)
    files, todo, seen = set(), [], set()
    for entry in entries:
        if entry in known:
            todo.append(entry)
        elif (root / entry).is_file():
            files.add(root / entry)
        else:
            raise ValueError(f"no module or file {entry} under {root}")
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        files.add(known[module])
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # its packages' __init__
        todo += sorted(imports(module, known[module], known) - seen)
    return tuple(sorted(files))


def rule_code(rule: str, root: Path = PACKAGE) -> tuple[Path, ...]:
    """The files a workflow rule's results depend on."""
    return closure(*RULES[rule], root=root)


def digest(files) -> str:
    """One hash of the files' contents, in the order given."""
    h = hashlib.sha256()
    for path in files:
        h.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return h.hexdigest()

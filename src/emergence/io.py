"""Files in and out, for every stage: atomic writes, and readers that turn a bad file into one line.

Every reader raises InputError (or the error class it is given) with a message that names
the file, and the line, field or column at fault, so a command can print it and exit 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import yaml

from emergence.errors import EmergenceError, InputError


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on clean exit it is synced and renamed onto `path`.

    The temporary name keeps `path`'s suffix (np.save and friends care) and starts with a
    dot. If the block raises, the temporary file is removed and `path` is left untouched,
    so a reader never sees a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    # os.open rather than mkstemp: the final file gets the usual umask permissions, not 0600.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def folder_files(folder: str | Path) -> list[Path]:
    """The files under `folder`, sorted, without hidden ones or Python caches: what a folder
    input (an lm-eval task's YAML and data) is made of, for the workflow and for its hash."""
    folder = Path(folder)
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts)
    ]


def check_output(path: str | Path, flag: str = "--out") -> Path:
    """`path` if a file can be written there; InputError naming `flag` otherwise. Called
    before the work, so a long evaluation never ends in a path that cannot take its result."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory, expected a file name")
    if path.parent.exists() and not path.parent.is_dir():
        raise InputError(f"{flag} {path}: {path.parent} is not a directory")
    return path


def write_json(path: str | Path, obj) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, records) -> None:
    with atomic_write(path) as tmp:
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


def write_table(table, csv: str | Path | None = None, parquet: str | Path | None = None) -> None:
    """A table as CSV and/or parquet, each written atomically."""
    if csv is not None:
        with atomic_write(csv) as tmp:
            table.to_csv(tmp, index=False)
    if parquet is not None:
        with atomic_write(parquet) as tmp:
            table.to_parquet(tmp, index=False)


def _existing_file(path: Path, what: str, error: type[EmergenceError] = InputError) -> Path:
    if not path.exists():
        raise error(f"{what} {path} does not exist")
    if not path.is_file():
        raise error(f"{what} {path} is a directory, expected a file")
    return path


def read_utf8(path: str | Path, what: str = "file", error: type[EmergenceError] = InputError) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped)."""
    path = _existing_file(Path(path), what, error)
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise error(f"{what} {path} line {line}: not valid UTF-8 (byte offset {e.start})") from None


def json_object(line: str, where: str) -> dict:
    """One JSONL record, which must be a JSON object; InputError naming `where` otherwise."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def iter_jsonl(path: str | Path, what: str = "file") -> Iterator[tuple[int, dict]]:
    """(line number, record) for each non-blank line of a JSONL file, streamed. Lines split at "\\n" only: U+2028 and
    friends may stand unescaped inside JSON strings."""
    path = _existing_file(Path(path), what)
    offset = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            where = f"{what} {path} line {line_no}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{where}: not valid UTF-8 (byte offset {offset + e.start})") from None
            offset += len(raw)
            if line_no == 1:
                line = line.removeprefix("\ufeff")
            if line.strip():
                yield line_no, json_object(line, where)


def string_field(record: dict, field: str, where: str) -> str:
    """record[field], which must exist and be a string; InputError naming `where` and the field."""
    if field not in record:
        raise InputError(f"{where}: no field {field!r} (fields: {', '.join(map(str, record)) or 'none'})")
    value = record[field]
    if not isinstance(value, str):
        raise InputError(f"{where}: field {field!r} is {type(value).__name__}, expected a string")
    return value


def read_json(path: str | Path, what: str = "file") -> dict:
    """A JSON object from a file; InputError naming the file if it is missing, truncated or not an object."""
    path = Path(path)
    text = read_utf8(path, what)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{what} {path}: not valid JSON ({e.msg} at line {e.lineno}); rerun the step that wrote it"
        ) from None
    if not isinstance(obj, dict):
        raise InputError(f"{what} {path}: expected a JSON object, got {type(obj).__name__}")
    return obj


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str, error: type[EmergenceError] = InputError):
    """YAML (or JSON, a subset of it) with duplicate keys rejected; `error` naming `where` if malformed."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{where}: not valid YAML ({problem}{at})") from None


def load_yaml(path: str | Path, error: type[EmergenceError] = InputError, what: str = "file"):
    """A YAML file, parsed as `parse_yaml`."""
    path = Path(path)
    return parse_yaml(read_utf8(path, what, error), f"{what} {path}", error)


def read_csv_columns(
    path: str | Path, required: tuple[str, ...], numeric: tuple[str, ...] = (), positive: tuple[str, ...] = ()
):
    """A CSV as a DataFrame with `required` columns present and the `numeric` ones (those
    present) converted to finite floats; `positive` ones must also be > 0. Empty cells are
    allowed only in numeric columns that are not required.

    InputError, one line naming the file and column (and the first bad row, counting the
    header as line 1), for a missing or unreadable file, a missing column or a bad value.
    """
    import numpy as np
    import pandas as pd

    path = _existing_file(Path(path), "CSV file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable CSV file ({str(e).splitlines()[0]})") from None
    for col in required:
        if col not in df.columns:
            raise InputError(f"{path}: missing column '{col}' (has: {', '.join(map(str, df.columns))})")
    if df.empty:
        raise InputError(f"{path}: no data rows")
    for col in (c for c in numeric if c in df.columns):
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = ~np.isfinite(num.to_numpy(float)) & (raw.notna().to_numpy() | (col in required))
        if bad.any():
            i = int(np.argmax(bad))
            shown = "an empty cell" if pd.isna(raw.iloc[i]) else f"non-numeric value {str(raw.iloc[i])!r}"
            raise InputError(f"{path}: column '{col}' has {shown} at line {i + 2}")
        if col in positive and (num <= 0).any():
            i = int(np.argmax((num <= 0).to_numpy()))
            raise InputError(f"{path}: column '{col}' must be positive, got {raw.iloc[i]} at line {i + 2}")
        df[col] = num.astype(float)
    return df

"""Small file helpers shared by the stages."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


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


def json_object(line: str, where: str) -> dict:
    """One JSONL record, which must be a JSON object; InputError naming `where` otherwise."""
    from emergence.errors import InputError

    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def write_json(path: str | Path, obj) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | Path, records) -> None:
    with atomic_write(path) as tmp:
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

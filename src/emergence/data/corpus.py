"""Build the corpus: `train.jsonl`, `val.jsonl` and `meta.json` from the synthetic generator or the user's files.

Each split file holds one JSON object per line, `{"text": ...}`; synthetic documents also
carry `"family"`. `meta.json` records the source and, per split, `n_docs`, `chars`,
`bytes` (UTF-8) and, for synthetic corpora, `family_chars`.

The user's documents are split by a stable hash of their text: a document lands in val
when blake2b(text) / 2**64 < val_fraction, so identical documents always share a split
and adding a file never moves another file's documents. When that leaves a split empty,
the document with the smallest (or largest) hash moves over, so with two or more
documents both splits are non-empty. A corpus of one document is an error: cut the text
into documents at blank lines, or add files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emergence.config import CorpusFile, StudyConfig
from emergence.data.synthetic import generate_documents
from emergence.errors import InputError
from emergence.io import atomic_write, iter_jsonl, read_utf8, string_field

SPLITS = ("train", "val")
# A blank line (possibly holding spaces or tabs) ends a document in a text file.
_BLANK_LINES = re.compile(r"\r?\n(?:[ \t]*\r?\n)+")


def _read_text(path: Path) -> Iterator[str]:
    for doc in _BLANK_LINES.split(read_utf8(path, "corpus file")):
        if doc.strip():
            yield doc.strip("\r\n")


def _read_jsonl(path: Path, field: str) -> Iterator[str]:
    for line_no, record in iter_jsonl(path, "corpus file"):
        text = string_field(record, field, f"corpus file {path} line {line_no}")
        if text.strip():
            yield text


def _read_parquet(path: Path, field: str) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"corpus file {path}: not a readable parquet file ({e})".replace("\n", " ")) from None
    names = pf.schema_arrow.names
    if field not in names:
        raise InputError(f"corpus file {path}: no column {field!r} (columns: {', '.join(names)})")
    column_type = pf.schema_arrow.field(field).type
    if not (pa.types.is_string(column_type) or pa.types.is_large_string(column_type)):
        raise InputError(f"corpus file {path}: column {field!r} has type {column_type}, expected string")
    row = 0
    for batch in pf.iter_batches(columns=[field], batch_size=4096):
        for value in batch.column(0).to_pylist():
            if value is None:
                raise InputError(f"corpus file {path}: column {field!r} is null in row {row}")
            row += 1
            if value.strip():
                yield value


def read_documents(file: CorpusFile, base_dir: Path | None = None) -> Iterator[str]:
    """The non-empty documents of one user corpus file, in file order; InputError names any fault."""
    path = Path(file.path) if base_dir is None else Path(base_dir) / file.path
    if not path.is_file():
        raise InputError(f"corpus file {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"corpus file {path} is empty")
    readers = {
        "text": lambda: _read_text(path),
        "jsonl": lambda: _read_jsonl(path, file.field),
        "parquet": lambda: _read_parquet(path, file.field),
    }
    if file.format not in readers:
        raise InputError(f"corpus file {path}: unknown format {file.format!r} (known: text, jsonl, parquet)")
    n = 0
    for doc in readers[file.format]():
        n += 1
        yield doc
    if n == 0:
        raise InputError(f"corpus file {path} holds no documents (only blank text)")


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2.0**64


class _SplitWriter:
    """Streams documents of one split into a jsonl file and counts them."""

    def __init__(self, f):
        self.f, self.stats = f, {"n_docs": 0, "chars": 0, "bytes": 0}

    def write(self, text: str, family: str | None = None) -> None:
        record = {"text": text} if family is None else {"text": text, "family": family}
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stats["n_docs"] += 1
        self.stats["chars"] += len(text)
        self.stats["bytes"] += len(text.encode())
        if family is not None:
            families = self.stats.setdefault("family_chars", {})
            families[family] = families.get(family, 0) + len(text)


def _split_assignment(cfg: StudyConfig, base_dir: Path | None) -> np.ndarray:
    """Boolean per document (in reading order): True for val. Validates every file on the way."""
    hashes = np.array([_unit_hash(d) for f in cfg.corpus.files for d in read_documents(f, base_dir)])
    if len(hashes) < 2:
        names = ", ".join(f.path for f in cfg.corpus.files)
        raise InputError(
            f"corpus files {names} hold only {len(hashes)} document; need at least 2 for a validation split"
        )
    is_val = hashes < cfg.corpus.val_fraction
    if not is_val.any():
        is_val[np.argmin(hashes)] = True
    if is_val.all():
        is_val[np.argmax(hashes)] = False
    return is_val


def build_corpus(cfg: StudyConfig, out_dir: Path, base_dir: Path | None = None) -> dict:
    """Write `out_dir/{train,val}.jsonl` and `out_dir/meta.json` atomically; return the meta dict.

    Relative user file paths are read from `base_dir` (default: the working directory).
    Both splits are streamed: memory does not grow with the corpus.
    """
    out_dir = Path(out_dir)
    meta: dict = {"source": cfg.corpus.source}
    if cfg.corpus.source == "synthetic":
        syn = cfg.corpus.synthetic
        meta["seed"] = cfg.seed
        for split, n_chars in (("train", syn.train_chars), ("val", syn.val_chars)):
            with atomic_write(out_dir / f"{split}.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as f:
                writer = _SplitWriter(f)
                for family, text in generate_documents(syn, cfg.seed, split, n_chars):
                    writer.write(text, family)
            meta[split] = writer.stats
    elif cfg.corpus.source == "files":
        is_val = _split_assignment(cfg, base_dir)
        meta["files"] = [dict(path=f.path, format=f.format, field=f.field) for f in cfg.corpus.files]
        meta["val_fraction"] = cfg.corpus.val_fraction
        with (
            atomic_write(out_dir / "train.jsonl") as train_tmp,
            atomic_write(out_dir / "val.jsonl") as val_tmp,
            open(train_tmp, "w", encoding="utf-8") as train_f,
            open(val_tmp, "w", encoding="utf-8") as val_f,
        ):
            writers = {False: _SplitWriter(train_f), True: _SplitWriter(val_f)}
            docs = (d for f in cfg.corpus.files for d in read_documents(f, base_dir))
            for doc, to_val in zip(docs, is_val, strict=True):
                writers[bool(to_val)].write(doc)
        meta["train"], meta["val"] = writers[False].stats, writers[True].stats
    else:
        raise ValueError(f"unknown corpus source {cfg.corpus.source!r}")
    with atomic_write(out_dir / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def iter_texts(path: str | Path) -> Iterator[str]:
    """The documents of a corpus jsonl written by `build_corpus`, in order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"corpus split {path} does not exist; build the corpus first")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                yield json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"corpus split {path} line {lineno}: not a JSON object with a 'text' field") from None

"""Token shards: each corpus split tokenized into one flat .npy array, documents separated by EOS.

`out_dir/{train,val}.npy` are 1-D arrays (uint16 when the vocabulary fits in 65535 ids,
else uint32): every document's tokens followed by one EOS. `out_dir/meta.json` holds
vocab_size, eos_id, dtype, {train,val}_tokens (EOS included), {train,val}_bytes (UTF-8
bytes of the documents, EOS excluded), bytes_per_token = val_bytes / val_tokens and the
tokenizer file's sha256. A mean validation loss of L nats per token is
L / ln(2) / bytes_per_token bits per byte, comparable across tokenizers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from itertools import chain, islice
from pathlib import Path

import numpy as np

from emergence.data.corpus import SPLITS, iter_texts
from emergence.data.tokenizer import eos_id, load_tokenizer, tokenizer_sha256, vocab_size
from emergence.errors import InputError
from emergence.io import atomic_write

# Documents per encode_batch call: large enough to use the Rust thread pool, small
# enough that memory stays flat however large the corpus is.
BATCH_DOCS = 2048
# Tokens copied per step from the raw stream into the final .npy.
_COPY_TOKENS = 1 << 24
MIN_TOKENS = 2


def _batches(texts: Iterator[str], n: int) -> Iterator[list[str]]:
    while batch := list(islice(texts, n)):
        yield batch


def _tokenize_split(tok, eos: int, dtype: np.dtype, corpus_path: Path, out_path: Path) -> tuple[int, int]:
    """Write the split's tokens to `out_path` (.npy) via a raw scratch stream; return (tokens, bytes)."""
    n_tokens = n_bytes = 0
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, raw_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".raw", dir=out_path.parent)
    raw_path = Path(raw_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            for batch in _batches(iter_texts(corpus_path), BATCH_DOCS):
                n_bytes += sum(len(t.encode()) for t in batch)
                ids = [e.ids + [eos] for e in tok.encode_batch(batch, add_special_tokens=False)]
                flat = np.fromiter(chain.from_iterable(ids), dtype=dtype, count=sum(map(len, ids)))
                flat.tofile(raw)
                n_tokens += len(flat)
        if n_tokens < MIN_TOKENS:
            raise InputError(f"{corpus_path.stem} split {corpus_path} has {n_tokens} tokens; need {MIN_TOKENS} or more")
        # The .npy header needs the final length, known only now: copy the stream over.
        src = np.memmap(raw_path, dtype=dtype, mode="r", shape=(n_tokens,))
        with atomic_write(out_path) as npy_path:
            dst = np.lib.format.open_memmap(npy_path, mode="w+", dtype=dtype, shape=(n_tokens,))
            for start in range(0, n_tokens, _COPY_TOKENS):
                dst[start : start + _COPY_TOKENS] = src[start : start + _COPY_TOKENS]
            dst.flush()
            del dst, src
    finally:
        raw_path.unlink(missing_ok=True)
    return n_tokens, n_bytes


def write_shards(corpus_dir: Path, tokenizer_path: Path, out_dir: Path) -> dict:
    """Tokenize `corpus_dir/{train,val}.jsonl` into `out_dir/{train,val}.npy` and write `out_dir/meta.json`.

    Memory is bounded by one batch of documents; every output appears atomically, the
    meta last. InputError if the tokenizer is missing/invalid/lacks EOS or a split has
    fewer than 2 tokens.
    """
    corpus_dir, tokenizer_path, out_dir = Path(corpus_dir), Path(tokenizer_path), Path(out_dir)
    tok = load_tokenizer(tokenizer_path)
    eos, n_vocab = eos_id(tok, tokenizer_path), vocab_size(tok)
    dtype = np.dtype(np.uint16 if n_vocab <= 65535 else np.uint32)
    meta = {"vocab_size": n_vocab, "eos_id": eos, "dtype": dtype.name}
    for split in SPLITS:
        tokens, n_bytes = _tokenize_split(tok, eos, dtype, corpus_dir / f"{split}.jsonl", out_dir / f"{split}.npy")
        meta[f"{split}_tokens"], meta[f"{split}_bytes"] = tokens, n_bytes
    meta["bytes_per_token"] = meta["val_bytes"] / meta["val_tokens"]
    meta["tokenizer_sha256"] = tokenizer_sha256(tokenizer_path)
    with atomic_write(out_dir / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def open_tokens(path: str | Path) -> np.ndarray:
    """A token shard as a read-only memory map (1-D uint16 or uint32); InputError if missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"token shard {path} does not exist; write the shards first")
    try:
        tokens = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"token shard {path} is not a valid .npy file ({e})".replace("\n", " ")) from None
    if tokens.ndim != 1 or tokens.dtype not in (np.uint16, np.uint32):
        shape = f"{tokens.dtype} array of shape {tokens.shape}"
        raise InputError(f"token shard {path} holds a {shape}; expected a 1-D uint16 or uint32 array")
    return tokens

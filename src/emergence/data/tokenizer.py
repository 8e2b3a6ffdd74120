"""Byte-level BPE tokenizer: train one on the training split, or install the user's.

The trained tokenizer splits every digit into its own pre-token, so a number is always
one token per digit (arithmetic stays learnable and comparable across vocabulary
sizes). Its 256-byte initial alphabet means any text encodes without unknown tokens and
decodes back to itself. Documents are separated by `EOS`, which the shard writer appends;
the tokenizer itself adds no special tokens when encoding.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from emergence.config import TokenizerConfig
from emergence.data.corpus import iter_texts
from emergence.errors import InputError
from emergence.io import atomic_write

EOS = "<|endoftext|>"


def train_tokenizer(train_jsonl: Path, vocab_size: int, out_path: Path) -> Tokenizer:
    """Train byte-level BPE on the documents of `train_jsonl`; save it atomically to `out_path`.

    vocab_size 257 gives the 256 bytes plus EOS and no merges; larger sizes add merges,
    up to what the corpus supports (a tiny corpus may give fewer tokens than asked).
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(iter_texts(train_jsonl), trainer=trainer)
    save_tokenizer(tok, out_path)
    return tok


def save_tokenizer(tok: Tokenizer, out_path: Path) -> None:
    with atomic_write(out_path) as tmp:
        tok.save(str(tmp))


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer.json; InputError if it is missing or not a tokenizer."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"tokenizer file {path} does not exist")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises a bare Exception for any parse failure
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"tokenizer file {path} is not a valid tokenizer.json ({reason})") from None


def eos_id(tok: Tokenizer, path: str | Path | None = None) -> int:
    """The id of EOS; InputError (naming `path` if given) when the tokenizer lacks it."""
    token_id = tok.token_to_id(EOS)
    if token_id is None:
        where = f"tokenizer file {path}" if path is not None else "the tokenizer"
        raise InputError(f"{where} has no {EOS!r} token; add it as a special token (documents are separated by it)")
    return token_id


def install_user_tokenizer(src: Path, out_path: Path) -> Tokenizer:
    """Check the user's tokenizer.json (parsable, has EOS) and save it atomically to `out_path`."""
    tok = load_tokenizer(src)
    eos_id(tok, src)
    save_tokenizer(tok, out_path)
    return tok


def vocab_size(tok: Tokenizer) -> int:
    """One more than the largest token id (a user's tokenizer may leave gaps in its ids)."""
    return max(tok.get_vocab_size(with_added_tokens=True), max(tok.get_vocab(with_added_tokens=True).values()) + 1)


def tokenizer_sha256(path: str | Path) -> str:
    """The identity of a tokenizer file: shards and models record it, evaluation checks it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_tokenizer(cfg: TokenizerConfig, corpus_dir: Path, out_path: Path) -> Tokenizer:
    """The study's tokenizer at `out_path`: the user's (checked) if the config names one, else trained on the corpus."""
    if cfg.path:
        return install_user_tokenizer(Path(cfg.path), Path(out_path))
    return train_tokenizer(Path(corpus_dir) / "train.jsonl", cfg.vocab_size, Path(out_path))

import hashlib
import json
import math

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from emergence.config import StudyConfig
from emergence.data import shards
from emergence.data.corpus import build_corpus, iter_texts
from emergence.data.shards import open_tokens, write_shards
from emergence.data.tokenizer import EOS, load_tokenizer, train_tokenizer
from emergence.errors import InputError


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    cfg = StudyConfig.from_dict({"corpus": {"synthetic": {"train_chars": 20_000, "val_chars": 4_000}}})
    build_corpus(cfg, root / "corpus")
    train_tokenizer(root / "corpus/train.jsonl", 300, root / "tokenizer.json")
    return root


def test_round_trip_and_meta(built, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "BATCH_DOCS", 7)  # several batches per split
    monkeypatch.setattr(shards, "_COPY_TOKENS", 1000)  # several copy steps
    meta = write_shards(built / "corpus", built / "tokenizer.json", tmp_path)
    tok = load_tokenizer(built / "tokenizer.json")
    eos = tok.token_to_id(EOS)
    assert json.loads((tmp_path / "meta.json").read_text()) == meta
    for split in ("train", "val"):
        tokens = open_tokens(tmp_path / f"{split}.npy")
        assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16 and tokens.ndim == 1
        texts = list(iter_texts(built / f"corpus/{split}.jsonl"))
        assert tokens[-1] == eos and int((tokens == eos).sum()) == len(texts)
        docs = np.split(np.asarray(tokens), np.flatnonzero(tokens == eos) + 1)[:-1]
        assert [tok.decode(d[:-1].tolist()) for d in docs] == texts
        assert meta[f"{split}_tokens"] == len(tokens)
        assert meta[f"{split}_bytes"] == sum(len(t.encode()) for t in texts)
    assert meta["vocab_size"] == tok.get_vocab_size() and meta["eos_id"] == eos and meta["dtype"] == "uint16"
    assert math.isclose(meta["bytes_per_token"], meta["val_bytes"] / meta["val_tokens"])
    assert meta["tokenizer_sha256"] == hashlib.sha256((built / "tokenizer.json").read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json", "train.npy", "val.npy"]


def test_large_vocab_uses_uint32(built, tmp_path):
    vocab = {chr(c): c - 32 for c in range(32, 127)} | {f"<extra{i}>": 100 + i for i in range(70_000)}
    vocab[EOS] = 100 + 70_000
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=" "))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.decoder = decoders.Fuse()
    tok.save(str(tmp_path / "big.json"))
    (tmp_path / "corpus").mkdir()
    for split in ("train", "val"):
        (tmp_path / "corpus" / f"{split}.jsonl").write_text('{"text": "ab"}\n')
    meta = write_shards(tmp_path / "corpus", tmp_path / "big.json", tmp_path / "out")
    tokens = open_tokens(tmp_path / "out/train.npy")
    assert meta["dtype"] == "uint32" and tokens.dtype == np.uint32
    assert tokens.tolist() == [vocab["a"], vocab["b"], vocab[EOS]]


def test_too_few_tokens_names_the_split(built, tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus/train.jsonl").write_text('{"text": "enough text"}\n')
    (tmp_path / "corpus/val.jsonl").write_text("")
    with pytest.raises(InputError, match=r"val split .*val.jsonl has 0 tokens"):
        write_shards(tmp_path / "corpus", built / "tokenizer.json", tmp_path / "out")
    assert not (tmp_path / "out/meta.json").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_open_tokens_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_tokens(tmp_path / "missing.npy")
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="junk.npy is not a valid .npy"):
        open_tokens(tmp_path / "junk.npy")
    np.save(tmp_path / "float.npy", np.zeros((2, 2)))
    with pytest.raises(InputError, match="expected a 1-D"):
        open_tokens(tmp_path / "float.npy")

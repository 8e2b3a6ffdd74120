import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emergence.config import StudyConfig
from emergence.data.corpus import build_corpus, iter_texts
from emergence.errors import InputError
from emergence.io import atomic_write


def synthetic_config(**synthetic) -> StudyConfig:
    return StudyConfig.from_dict({"corpus": {"synthetic": {"train_chars": 20_000, "val_chars": 5_000, **synthetic}}})


def files_config(*files: dict, val_fraction: float = 0.3) -> StudyConfig:
    return StudyConfig.from_dict({"corpus": {"source": "files", "files": list(files), "val_fraction": val_fraction}})


def test_synthetic_build_end_to_end(tmp_path):
    meta = build_corpus(synthetic_config(), tmp_path)
    assert json.loads((tmp_path / "meta.json").read_text()) == meta
    assert meta["source"] == "synthetic"
    for split, n_chars in (("train", 20_000), ("val", 5_000)):
        records = [json.loads(line) for line in (tmp_path / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        texts = list(iter_texts(tmp_path / f"{split}.jsonl"))
        assert texts == [r["text"] for r in records] and all("family" in r for r in records)
        stats = meta[split]
        assert stats["n_docs"] == len(texts) and stats["chars"] == sum(map(len, texts)) >= n_chars
        assert stats["bytes"] == sum(len(t.encode()) for t in texts)
        assert sum(stats["family_chars"].values()) == stats["chars"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # Rebuilding gives byte-identical files.
    again = tmp_path / "again"
    build_corpus(synthetic_config(), again)
    assert (again / "train.jsonl").read_bytes() == (tmp_path / "train.jsonl").read_bytes()


def write_fixtures(tmp_path) -> dict[str, list[str]]:
    text_docs = ["First document,\nwith two lines.", "Second ünïcödé document 日本語.", "Third one."]
    (tmp_path / "a.txt").write_text("\n\n".join(text_docs[:2]) + "\n \n\n" + text_docs[2] + "\n", encoding="utf-8")
    jsonl_docs = [f"json document {i} é" for i in range(6)]
    lines = [json.dumps({"body": d, "id": i}) for i, d in enumerate(jsonl_docs)]
    (tmp_path / "b.jsonl").write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n", encoding="utf-8")
    parquet_docs = [f"parquet row {i} — ok" for i in range(5)]
    pq.write_table(pa.table({"content": parquet_docs, "n": list(range(5))}), tmp_path / "c.parquet")
    return {"text": text_docs, "jsonl": jsonl_docs, "parquet": parquet_docs}


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "a.txt", "format": "text"},
        {"path": "b.jsonl", "format": "jsonl", "field": "body"},
        {"path": "c.parquet", "format": "parquet", "field": "content"},
    ],
)
def test_each_user_format_round_trips(tmp_path, spec):
    docs = write_fixtures(tmp_path)[spec["format"]]
    meta = build_corpus(files_config(spec), tmp_path / "out", base_dir=tmp_path)
    train, val = list(iter_texts(tmp_path / "out/train.jsonl")), list(iter_texts(tmp_path / "out/val.jsonl"))
    assert train and val and sorted(train + val) == sorted(docs)
    assert [d for d in docs if d in train] == train  # file order is kept within a split
    assert meta["train"]["n_docs"] == len(train) and meta["val"]["bytes"] == sum(len(d.encode()) for d in val)


def test_split_is_stable_and_by_content(tmp_path):
    write_fixtures(tmp_path)
    specs = [
        {"path": "b.jsonl", "format": "jsonl", "field": "body"},
        {"path": "c.parquet", "format": "parquet", "field": "content"},
    ]
    build_corpus(files_config(*specs), tmp_path / "one", base_dir=tmp_path)
    build_corpus(files_config(*reversed(specs)), tmp_path / "two", base_dir=tmp_path)
    assert sorted(iter_texts(tmp_path / "one/val.jsonl")) == sorted(iter_texts(tmp_path / "two/val.jsonl"))


def test_two_documents_give_two_nonempty_splits(tmp_path):
    (tmp_path / "a.txt").write_text("only one\n\nand two\n")
    for fraction in (0.01, 0.99):
        cfg = files_config({"path": str(tmp_path / "a.txt")}, val_fraction=fraction)
        meta = build_corpus(cfg, tmp_path / str(fraction))
        assert meta["train"]["n_docs"] == meta["val"]["n_docs"] == 1


def bad(tmp_path, name: str, content: bytes | None, **spec) -> str:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as e:
        build_corpus(files_config({"path": str(path), **spec}), tmp_path / "out")
    message = str(e.value)
    assert str(path) in message and "\n" not in message
    assert not (tmp_path / "out" / "train.jsonl").exists()
    return message


def test_input_errors_name_the_file_and_the_fault(tmp_path):
    assert "does not exist" in bad(tmp_path, "missing.txt", None)
    assert "is empty" in bad(tmp_path, "empty.txt", b"")
    assert "no documents" in bad(tmp_path, "blank.txt", b"\n \n\n")
    assert "byte offset 7" in bad(tmp_path, "latin.txt", b"hello\n\n\xe9t\xe9\n")
    msg = bad(tmp_path, "latin.jsonl", b'{"text": "fine"}\n{"text": "\xe9"}\n', format="jsonl")
    assert "line 2: not valid UTF-8 (byte offset 27)" in msg
    assert "only 1 document" in bad(tmp_path, "one.txt", b"a single document\n")
    msg = bad(tmp_path, "broken.jsonl", b'{"text": "ok"}\n{"text": \n', format="jsonl")
    assert "line 2" in msg and "not valid JSON" in msg
    msg = bad(tmp_path, "nofield.jsonl", b'{"text": "ok"}\n{"body": "x"}\n', format="jsonl")
    assert "line 2" in msg and "no field 'text'" in msg and "body" in msg
    msg = bad(tmp_path, "number.jsonl", b'{"text": "ok"}\n{"text": 3}\n', format="jsonl")
    assert "line 2" in msg and "int" in msg
    assert "expected a JSON object" in bad(tmp_path, "list.jsonl", b'["text"]\n', format="jsonl")
    pq.write_table(pa.table({"body": ["a", "b"], "id": [1, 2]}), tmp_path / "t.parquet")
    msg = bad(tmp_path, "t.parquet", None, format="parquet")
    assert "no column 'text'" in msg and "body, id" in msg
    msg = bad(tmp_path, "t.parquet", None, format="parquet", field="id")
    assert "expected string" in msg
    assert "not a readable parquet" in bad(tmp_path, "junk.parquet", b"not parquet at all", format="parquet")


def test_iter_texts_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(iter_texts(tmp_path / "nope.jsonl"))
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n{"nope": 1}\n')
    with pytest.raises(InputError, match="line 2"):
        list(iter_texts(tmp_path / "x.jsonl"))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "data.npy"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".npy"
        tmp.write_text("complete")
    assert target.read_text() == "complete"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "complete"
    assert [p.name for p in target.parent.iterdir()] == ["data.npy"]

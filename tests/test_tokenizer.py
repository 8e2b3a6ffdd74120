import json

import pytest
from tokenizers import Tokenizer, models

from emergence.data.tokenizer import EOS, eos_id, install_user_tokenizer, load_tokenizer, train_tokenizer, vocab_size
from emergence.errors import InputError

TEXTS = [
    "the cat sat on the mat. 12345+678=13023",
    "Q: 478+65=? A: 8+5+0=13, 7+6+1=14, 4+0+1=5. #### 543",
    "review: the soup was not tasty -> negative\nreview: the film was great -> positive",
    "ünïcödé text, 日本語 and emoji 🙂 with  double  spaces\tand tabs",
] * 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "train.jsonl"
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in TEXTS), encoding="utf-8")
    return path


def test_vocab_257_is_bytes_plus_eos_without_merges(corpus, tmp_path):
    tok = train_tokenizer(corpus, 257, tmp_path / "tokenizer.json")
    assert tok.get_vocab_size() == 257 and eos_id(tok) == 0
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["merges"] == []
    assert len(tok.encode("hello").ids) == 5


def test_larger_vocab_merges_but_digits_stay_single(corpus, tmp_path):
    tok = train_tokenizer(corpus, 400, tmp_path / "tokenizer.json")
    assert 257 < tok.get_vocab_size() <= 400
    assert len(tok.encode("the cat sat on the mat").ids) < len("the cat sat on the mat")
    assert tok.encode("12345").tokens == list("12345")
    assert len(tok.encode("x 13023 y").ids) >= 5
    assert load_tokenizer(tmp_path / "tokenizer.json").to_str() == tok.to_str()


@pytest.mark.parametrize("text", ["plain ascii, 123 + 45 = 168.\n\nnew  para", "ünïcödé 日本語 🙂\t\r\n end "])
def test_decode_encode_round_trip(corpus, tmp_path, text):
    for size in (257, 400):
        tok = train_tokenizer(corpus, size, tmp_path / f"tok{size}.json")
        assert tok.decode(tok.encode(text).ids) == text


def test_install_user_tokenizer(corpus, tmp_path):
    train_tokenizer(corpus, 300, tmp_path / "user.json")
    tok = install_user_tokenizer(tmp_path / "user.json", tmp_path / "out" / "tokenizer.json")
    assert eos_id(tok) == eos_id(load_tokenizer(tmp_path / "out" / "tokenizer.json"))
    assert vocab_size(tok) == tok.get_vocab_size()


def test_user_tokenizer_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        install_user_tokenizer(tmp_path / "missing.json", tmp_path / "out.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InputError, match="junk.json is not a valid tokenizer.json"):
        install_user_tokenizer(tmp_path / "junk.json", tmp_path / "out.json")
    Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[])).save(str(tmp_path / "noeos.json"))
    with pytest.raises(InputError, match=r"noeos.json has no '<\|endoftext\|>' token"):
        install_user_tokenizer(tmp_path / "noeos.json", tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
    assert EOS == "<|endoftext|>"

"""The task registry: demonstrations, label settings, prompt styles, fit, contamination."""

import json

import pytest
from helpers import LABEL_RULES, rule_label

from emergence.config import StudyConfig, task_spec
from emergence.data.world import POSITIVE, is_heldout
from emergence.errors import InputError
from emergence.evaluate.items import Item
from emergence.evaluate.kinds import KINDS
from emergence.evaluate.tasks import build_requests, build_task, contamination

CFG = StudyConfig.from_dict({"corpus": {"synthetic": {"train_chars": 20000, "val_chars": 2000}}})
n_chars = len  # a stand-in tokenizer: one token per character


def requests(kind, context=10**6, **kw):
    settings = {"kind": kind, "n_items": kw.pop("n_items", 10), "demo_pool": kw.pop("demo_pool", 16)}
    spec = task_spec(kind, settings | {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()})
    return build_requests(spec, CFG, n_chars, context)


def by_setting(reqs):
    out = {}
    for r in reqs:
        out.setdefault((r.prompt, r.shots, r.labels), []).append(r)
    return out


def demo_lines(r):
    return r.text.split("\n")[:-1]


def query(r):
    return r.text.split("\n")[-1]


def test_label_settings_change_only_the_demonstration_labels():
    built = requests("sentiment", shots=(4,), labels=("gold", "random", "flipped", "ood", "no_format"))
    s = by_setting(built["requests"])
    for i in range(10):
        gold, rand, flip, ood, nofmt = (
            demo_lines(s[("standard", 4, lab)][i]) for lab in ("gold", "random", "flipped", "ood", "no_format")
        )
        assert len(gold) == len(flip) == len(rand) == len(ood) == len(nofmt) == 4
        for g, f, r, n in zip(gold, flip, rand, nofmt):
            g_in, g_lab = g.rsplit(" -> ", 1)
            f_in, f_lab = f.rsplit(" -> ", 1)
            assert g_in == f_in and {g_lab, f_lab} == {"positive", "negative"}  # flipped: same input, other label
            assert r.rsplit(" -> ", 1)[0] == g_in and r.rsplit(" -> ", 1)[1] in ("positive", "negative")
            assert n == g_in.removeprefix("review: ") + " " + g_lab  # format removed, gold label kept
            assert "review:" not in n and "->" not in n
        for g in gold:  # gold labels are right: negation flips the adjective's polarity
            words = g.removeprefix("review: ").split(" -> ")[0].split()
            positive = (words[-1] in POSITIVE) != (words[-2] == "not")
            assert g.endswith("positive" if positive else "negative")
        assert not set(o.rsplit(" -> ", 1)[0] for o in ood) & set(g.rsplit(" -> ", 1)[0] for g in gold)  # ood inputs
    # random labels really are random: over all demos, some disagree with gold and some agree
    agree = [
        r.split(" -> ")[1] == g.split(" -> ")[1]
        for i in range(10)
        for r, g in zip(demo_lines(s[("standard", 4, "random")][i]), demo_lines(s[("standard", 4, "gold")][i]))
    ]
    assert 0 < sum(agree) < len(agree)
    # the query itself is the same in every setting
    assert len({s[("standard", 4, lab)][0].text.split("\n")[-1] for lab in ("gold", "random", "flipped")}) == 1


@pytest.mark.parametrize("kind", LABEL_RULES)
def test_weather_and_road_ask_heldout_lines_with_their_two_labels(kind):
    built = requests(kind, shots=(0, 2), labels=("gold", "flipped", "unrelated", "no_format"))
    s = by_setting(built["requests"])
    labels = sorted(set(LABEL_RULES[kind][1].values()))
    for item in built["items"]:
        assert is_heldout(kind, item["id"], CFG.corpus.synthetic.holdout_fraction)
        assert sorted(item["choices"]) == [f" {y}" for y in labels] and len(item["choices"]) == 2
    for r in s[("standard", 0, "gold")] + s[("standard", 2, "gold")]:
        words = query(r).removeprefix(f"{kind}: ").removesuffix(" ->").split()
        assert query(r).startswith(f"{kind}: {LABEL_RULES[kind][0]} ") and query(r).endswith(" ->")
        assert r.choices[r.label] == " " + rule_label(kind, words[-1], words[-2] == "not"), query(r)
    for gold, flipped, nofmt in zip(*(s[("standard", 2, lab)] for lab in ("gold", "flipped", "no_format"))):
        for g, f, n in zip(demo_lines(gold), demo_lines(flipped), demo_lines(nofmt)):
            g_in, g_lab = g.rsplit(" -> ", 1)
            assert f == f"{g_in} -> {next(y for y in labels if y != g_lab)}"  # the other label
            assert n == g_in.removeprefix(f"{kind}: ") + " " + g_lab  # format removed, gold label kept
    assert {r.choices for r in s[("standard", 2, "unrelated")]} == {(" cat", " dog")}


def test_zero_shots_is_evaluated_once_not_per_label_setting():
    s = by_setting(requests("sentiment", shots=(0, 2), labels=("gold", "flipped"))["requests"])
    assert set(s) == {("standard", 0, "gold"), ("standard", 2, "gold"), ("standard", 2, "flipped")}
    # ... once with the task's own choices (gold, wherever it is listed) and once per setting with its own choices
    s = by_setting(requests("sentiment", shots=(0, 2), labels=("unrelated", "random", "gold"))["requests"])
    assert {k for k in s if k[1] == 0} == {("standard", 0, "gold"), ("standard", 0, "unrelated")}


def test_chain_of_thought_demonstrations_carry_worked_steps():
    s = by_setting(requests("addition", shots=(2,), prompts=("standard", "cot"))["requests"])
    std, cot = s[("standard", 2, "gold")][0], s[("cot", 2, "gold")][0]
    assert all("####" not in line and "=" in line for line in demo_lines(std))
    assert all(line.startswith("Q: ") and "####" in line for line in demo_lines(cot))
    assert std.text.endswith("=") and cot.text.endswith("=? A:")
    assert cot.target.endswith(f"#### {cot.answer}") and std.target == std.answer


def test_demonstrations_never_include_the_query_and_are_reproducible():
    a = requests("fact_recall", shots=(3,), demo_pool=0, n_items=12)["requests"]
    b = requests("fact_recall", shots=(3,), demo_pool=0, n_items=12)["requests"]
    assert a == b
    for r in a:
        query = r.text.split("\n")[-1]
        assert query not in demo_lines(r)


def test_shots_that_do_not_fit_the_context_are_skipped_and_reported():
    built = requests("sentiment", context=120, shots=(0, 1, 8))
    assert {r.shots for r in built["requests"]} == {0, 1}
    assert [(s["shots"], s["tokens"] > 120) for s in built["skipped"]] == [(8, True)]


def test_too_few_items_for_the_demonstrations_is_an_error():
    with pytest.raises(InputError, match="too few"):
        requests("copying", shots=(8,), demo_pool=2, n_items=3)


def test_generated_items_are_absent_from_the_corpus_and_the_check_finds_planted_ones(tmp_path):
    from emergence.data.corpus import build_corpus
    from emergence.data.tokenizer import load_tokenizer, train_tokenizer

    build_corpus(CFG, tmp_path / "corpus")
    train_tokenizer(tmp_path / "corpus" / "train.jsonl", 300, tmp_path / "tok.json")
    tok = load_tokenizer(tmp_path / "tok.json")
    spec = task_spec("add", {"kind": "addition", "n_items": 30, "prompts": ["standard", "cot"]})
    task = build_task(spec, CFG, tmp_path / "corpus", tok, 128)
    assert task.contamination == 0 and task.n_items == 30

    from emergence.evaluate.items import Item

    items = [Item(**i) for i in task.items]
    planted = items[0].question + items[0].meta["target"]
    assert contamination(items, KINDS["addition"], f"noise\n{planted}\nmore") == 1
    assert contamination(items, KINDS["addition"], f"9{planted}") == 0  # part of a longer number: another item
    with open(tmp_path / "corpus" / "train.jsonl", "a") as f:
        f.write(json.dumps({"text": planted}) + "\n")
    with pytest.raises(InputError, match="1 held-out items occur verbatim"):
        build_task(spec, CFG, tmp_path / "corpus", tok, 128)


def test_mapping_demonstrations_are_lines_of_the_items_own_mapping():
    built = requests("mapping", shots=(0, 4, 16), labels=("gold", "random", "unrelated", "no_format"))
    s = by_setting(built["requests"])
    items = {i["id"]: i for i in built["items"]}
    assert set(s) == {("standard", k, lab) for k in (4, 16) for lab in ("gold", "random", "unrelated", "no_format")} | {
        ("standard", 0, "gold"),
        ("standard", 0, "unrelated"),
    }
    for r in s[("standard", 0, "gold")]:
        assert r.text == items[r.item]["question"]  # zero-shot: the query alone, at chance by construction
    for r in s[("standard", 16, "gold")]:
        pairs = dict(items[r.item]["meta"]["pairs"])
        for line in demo_lines(r):
            x, y = line.split(" -> ")
            assert pairs[x] == y
        assert r.choices == tuple(items[r.item]["choices"]) and r.choices[r.label] == f" {pairs[query(r)[:-3]]}"
    for r in s[("standard", 16, "unrelated")]:
        assert r.choices == (" cat", " dog") and {line.split(" -> ")[1] for line in demo_lines(r)} <= {"cat", "dog"}
    # the query's input is among 16 demonstrations of 4 inputs in nearly every prompt, among 4 in fewer
    seen = {k: sum(query(r)[:-3] + " -> " in r.text for r in s[("standard", k, "gold")]) for k in (4, 16)}
    assert seen[16] >= 9 and seen[4] < seen[16]


def test_min_et_al_ablations_keep_or_drop_their_ingredient():
    s = by_setting(requests("sentiment", shots=(2,), labels=("gold", "labels_only", "inputs_only"))["requests"])
    for gold, labels_only, inputs_only in zip(
        *(s[("standard", 2, lab)] for lab in ("gold", "labels_only", "inputs_only"))
    ):
        for g, lo, io in zip(demo_lines(gold), demo_lines(labels_only), demo_lines(inputs_only)):
            g_in, g_lab = g.rsplit(" ", 1)
            assert lo == g_lab and io == g_in  # labels only: the label word; inputs only: the input with its format


def test_a_mapping_item_is_contaminated_only_by_a_document_stating_its_whole_mapping():
    items = [Item(**i) for i in requests("mapping", shots=(0,), n_items=3)["items"]]
    pairs = items[0].meta["pairs"]
    whole = "\n".join(f"{x} -> {y}" for x, y in pairs * 2)
    part = "\n".join(f"{x} -> {y}" for x, y in pairs[:3])
    assert contamination(items, KINDS["mapping"], "\n\n".join(["Ba tolen.", part])) == 0
    assert contamination(items, KINDS["mapping"], "\n\n".join(["Ba tolen.", whole, part])) == 1


def test_a_bit_string_rule_is_answered_with_one_bit_whose_chance_is_one_half(tmp_path):
    from emergence.data.corpus import build_corpus
    from emergence.data.tokenizer import load_tokenizer, train_tokenizer

    cfg = StudyConfig.from_dict(
        {"corpus": {"synthetic": {"train_chars": 20000, "val_chars": 2000, "mixture": {"filler": 1, "parity": 1}}}}
    )
    build_corpus(cfg, tmp_path / "corpus")
    train_tokenizer(tmp_path / "corpus" / "train.jsonl", 300, tmp_path / "tok.json")
    spec = task_spec("parity", {"kind": "parity", "n_items": 20, "prompts": ["standard", "cot"]})
    tok = load_tokenizer(tmp_path / "tok.json")
    task = build_task(spec, cfg, tmp_path / "corpus", tok, 128)
    assert task.chance["exact_match"] == 0.5 and task.contamination == 0
    s = by_setting(task.requests)
    standard, cot = s["standard", 0, "gold"][0], s["cot", 0, "gold"][0]
    assert standard.text.startswith("parity: ") and standard.target == " " + standard.answer
    assert cot.text.startswith("Q: parity: ") and cot.target.endswith("#### " + cot.answer)
    xor = task_spec("xor", {"kind": "xor", "n_items": 50})  # 55 held-out strings; no demonstrations to draw
    assert build_task(xor, cfg, tmp_path / "corpus", tok, 128).n_items == 50
    addition = build_task(task_spec("add", {"kind": "addition", "n_items": 5}), cfg, tmp_path / "corpus", tok, 128)
    assert addition.chance["exact_match"] == 0.0  # an open answer

import collections
import dataclasses
import functools
import re

import pytest
from helpers import LABEL_RULES, rule_label

from emergence.config import defaults
from emergence.data.heldout import heldout_items
from emergence.data.synthetic import MAPPING_INPUTS, generate_documents, mapping_key
from emergence.data.world import (
    EVAL_QUESTIONS,
    NEGATIVE,
    POSITIVE,
    TRAIN_QUESTIONS,
    TRAIN_STATEMENTS,
    World,
    is_heldout,
)
from emergence.errors import ConfigError

CFG = defaults().corpus.synthetic
EVAL_FAMILIES = ("arithmetic", "facts", "classification", "copying")


@functools.cache
def corpus(seed: int = 0, split: str = "train", n_chars: int = 200_000) -> tuple[tuple[str, str], ...]:
    return tuple(generate_documents(CFG, seed, split, n_chars))


def lines(docs) -> list[str]:
    return [line for _, text in docs for line in text.split("\n")]


def test_same_seed_same_text_and_different_seed_or_split_differs():
    a = corpus()
    assert tuple(generate_documents(CFG, 0, "train", 200_000)) == a
    assert tuple(generate_documents(CFG, 1, "train", 20_000)) != a[: len(corpus(1, "train", 20_000))]
    assert corpus(0, "val", 20_000)[0] != a[0]
    assert sum(len(t) for _, t in a) >= 200_000


def test_world_is_deterministic_and_names_are_disjoint():
    w, w2 = World.build(CFG, 0), World.build(CFG, 0)
    assert w.words == w2.words and w.facts == w2.facts
    assert len(set(w.words)) == CFG.n_words and len(set(w.entities)) == CFG.n_entities
    assert not {e.lower() for e in w.entities} & set(w.words)
    assert not {c.lower() for c in w.values["city"]} & (set(w.words) | {e.lower() for e in w.entities})


def test_mixture_shares_are_honoured_and_zero_weight_is_absent():
    chars = collections.Counter()
    for family, text in corpus():
        chars[family] += len(text)
    total = sum(chars.values())
    weights = CFG.mixture
    for family, w in weights.items():
        assert abs(chars[family] / total - w / sum(weights.values())) < 0.02, family
    cfg = dataclasses.replace(CFG, mixture={"filler": 0.0, "arithmetic": 3.0, "copying": 1.0})
    chars = collections.Counter()
    for family, text in generate_documents(cfg, 0, "train", 50_000):
        chars[family] += len(text)
    assert set(chars) == {"arithmetic", "copying"}
    assert abs(chars["arithmetic"] / sum(chars.values()) - 0.75) < 0.05


def test_documents_are_one_family_of_several_lines():
    for family, text in corpus()[:50]:
        assert 300 <= len(text) and text == text.strip() and "\n" in text
        if family == "classification":
            assert all(line.startswith("review: ") for line in text.split("\n"))


@pytest.mark.parametrize("split", ["train", "val"])
def test_no_line_states_a_heldout_item(split):
    world = World.build(CFG, 0)
    seen = collections.Counter()
    for line in lines(corpus(0, split, 200_000 if split == "train" else 50_000)):
        for expr in re.findall(r"(?<![\d+])(\d+(?:\+\d+)+)=", line):
            seen["sum"] += 1
            assert not world.arithmetic_heldout(tuple(int(x) for x in expr.split("+"))), line
        if m := re.fullmatch(r"review: (the \w+) was (not )?(\w+) -> (positive|negative)", line):
            seen["review"] += 1
            assert not is_heldout("classification", f"{m[1]}|{int(bool(m[2]))}|{m[3]}", CFG.holdout_fraction), line
        if m := re.fullmatch(r"copy: (.+) => (.+)", line):
            seen["copy"] += 1
            assert m[1] == m[2]
            kind = "words" if " " in m[1] else "letters"
            assert not is_heldout("copying", f"{kind}:{m[1]}", CFG.holdout_fraction), line
        for attribute, template in TRAIN_QUESTIONS.items():
            if m := re.fullmatch(re.escape(template).replace(r"\{e\}", r"(\w+)") + r" (\w+)", line):
                seen["question"] += 1
                assert not is_heldout("facts", f"{m[1]}|{attribute}", CFG.holdout_fraction), line
                assert world.facts[m[1], attribute] == m[2]
    assert min(seen.values()) > 20 and len(seen) == 4


def test_eval_strings_never_appear_in_training_text():
    text = "\n".join(t for _, t in corpus())
    for family in EVAL_FAMILIES:
        for item in heldout_items(CFG, 0, family, 40):
            assert item["prompt"] not in text or family == "arithmetic", item
            if family == "arithmetic":
                assert not re.search(r"(?<![\d+])" + re.escape(item["prompt"]), text), item
                assert item["worked_prompt"] not in text
    for e in World.build(CFG, 0).entities[:50]:
        for templates in EVAL_QUESTIONS.values():
            for t in templates:
                assert t.format(e=e) not in text


@pytest.mark.parametrize("family", EVAL_FAMILIES)
def test_heldout_items_are_heldout_distinct_and_deterministic(family):
    items = heldout_items(CFG, 0, family, 30)
    assert len(items) == 30 and len({i["key"] for i in items}) == 30
    assert all(is_heldout(family, i["key"], CFG.holdout_fraction) for i in items)
    assert items == heldout_items(CFG, 0, family, 30)
    assert items != heldout_items(CFG, 0, family, 30, rng_seed=1)
    for item in items:
        assert {"family", "key", "prompt", "answer"} <= set(item)


def test_heldout_item_fields():
    world = World.build(CFG, 0)
    for item in heldout_items(CFG, 0, "arithmetic", 10):
        assert item["result"] == sum(item["operands"]) and item["answer"] == str(item["result"])
        assert item["worked_answer"].endswith(f"#### {item['result']}")
        assert len(item["operands"]) in (2, 3)
    for item in heldout_items(CFG, 0, "facts", 10):
        assert world.facts[item["entity"], item["attribute"]] == item["value"]
        assert item["answer"] in item["choices"] and len(set(item["choices"])) == 4
        assert item["prompt"] in [t.format(e=item["entity"]) for t in EVAL_QUESTIONS[item["attribute"]]]
    for item in heldout_items(CFG, 0, "copying", 10):
        assert item["answer"].strip() == (" " if item["kind"] == "words" else "").join(item["sequence"])


def test_worked_two_operand_sum_shows_every_carry():
    from emergence.data.synthetic import arithmetic_forms

    f = arithmetic_forms((478, 65))
    assert f["prompt"] + f["answer"] == "478+65=543"
    assert f["worked_prompt"] + f["worked_answer"] == "Q: 478+65=? A: 8+5+0=13, 7+6+1=14, 4+0+1=5. #### 543"
    f = arithmetic_forms((12, 7, 30))
    assert f["worked_prompt"] + f["worked_answer"] == "Q: 12+7+30=? A: 12+7=19, 19+30=49. #### 49"


def test_negation_flips_the_label():
    from emergence.data.synthetic import label_item

    for adjective in POSITIVE + NEGATIVE:
        plain = label_item("classification", "the soup", False, adjective)
        negated = label_item("classification", "the soup", True, adjective)
        assert plain["label"] == ("positive" if adjective in POSITIVE else "negative")
        assert {plain["label"], negated["label"]} == {"positive", "negative"}
        assert negated["prompt"] == f"review: the soup was not {adjective} ->"


def test_every_fact_is_stated_in_training():
    cfg = dataclasses.replace(CFG, mixture={"facts": 1.0}, n_entities=50)
    world = World.build(cfg, 0)
    text = "\n".join(t for _, t in generate_documents(cfg, 0, "train", 12_000))
    for (entity, attribute), value in world.facts.items():
        assert any(t.format(e=entity, v=value) in text for t in TRAIN_STATEMENTS[attribute]), (entity, attribute)


def test_one_digit_arithmetic_still_has_a_heldout_space():
    cfg = dataclasses.replace(CFG, max_digits=1, mixture={"arithmetic": 1.0})
    items = heldout_items(cfg, 0, "arithmetic", 10)
    assert all(x < 10 for i in items for x in i["operands"])
    world = World.build(cfg, 0)
    for line in lines(generate_documents(cfg, 0, "train", 20_000)):
        for expr in re.findall(r"(?<![\d+])(\d+(?:\+\d+)+)=", line):
            assert not world.arithmetic_heldout(tuple(int(x) for x in expr.split("+"))), line


def test_asking_for_more_items_than_the_heldout_space_holds_is_a_config_error():
    with pytest.raises(ConfigError, match="held-out classification"):
        heldout_items(CFG, 0, "classification", 10_000)


MAPPING_LINE = re.compile(r"(\w+) -> (\w+)")


def mappings_of(docs) -> list[dict[str, str]]:
    """Each mapping document's mapping, as its lines state it (ValueError if a line contradicts it)."""
    out = []
    for family, text in docs:
        if family == "mapping":
            mapping = {}
            for line in text.split("\n"):
                x, y = MAPPING_LINE.fullmatch(line).groups()
                if mapping.setdefault(x, y) != y:
                    raise ValueError(f"input {x} has two labels in one document")
            out.append(mapping)
    return out


def test_each_mapping_document_states_its_own_balanced_mapping_and_none_is_held_out():
    cfg = dataclasses.replace(CFG, mixture={"mapping": 1.0, "filler": 1.0})
    maps = mappings_of(generate_documents(cfg, 0, "train", 100_000))
    assert len(maps) > 50
    keys = [mapping_key(m) for m in maps]
    assert len(set(keys)) > 0.9 * len(keys)  # documents draw their own mappings
    for m in maps:
        assert len(m) == MAPPING_INPUTS and sorted(collections.Counter(m.values()).values()) == [2, 2]
        assert not set(m) & set(m.values())  # an input is never a label
    heldout = {i["key"] for i in heldout_items(cfg, 0, "mapping", 200)}
    assert all(is_heldout("mapping", k, CFG.holdout_fraction) for k in heldout)
    assert not heldout & set(keys)  # no evaluation mapping is a training document's
    val = {mapping_key(m) for m in mappings_of(generate_documents(cfg, 0, "val", 30_000))}
    assert not heldout & val


def test_mapping_items_ask_an_input_of_their_own_mapping_with_its_two_labels_as_choices():
    for item in heldout_items(CFG, 0, "mapping", 20):
        m = item["mapping"]
        assert item["label"] == m[item["input"]] and item["answer"] == f" {item['label']}"
        assert item["choices"] == sorted(f" {y}" for y in set(m.values())) and item["answer"] in item["choices"]
        assert item["prompt"] == f"{item['input']} ->"


def test_repeats_documents_repeat_one_line():
    cfg = dataclasses.replace(CFG, mixture={"repeats": 1.0})
    for _, text in list(generate_documents(cfg, 0, "train", 20_000)):
        assert len(set(text.split("\n"))) == 1 and text.count("\n") >= 1


def test_a_vocabulary_too_small_for_the_mapping_family_is_a_config_error():
    small = dataclasses.replace(CFG, n_words=100, mixture={"filler": 1.0, "mapping": 0.5})
    with pytest.raises(ConfigError, match=r"'corpus.synthetic.n_words': 100 filler words.*first 160"):
        list(generate_documents(small, 0, "train", 20_000))
    with pytest.raises(ConfigError, match="n_words"):
        heldout_items(dataclasses.replace(small, mixture={"filler": 1.0}), 0, "mapping", 5)
    assert list(generate_documents(dataclasses.replace(small, mixture={"filler": 1.0}), 0, "train", 2_000))


BITS_CFG = dataclasses.replace(CFG, mixture={"xor": 1.0, "parity": 1.0})


def _parity(bits: str, positions) -> int:
    return sum(int(bits[i]) for i in positions) % 2


def test_bit_string_lines_follow_the_worlds_hidden_positions_and_state_no_heldout_string():
    world = World.build(BITS_CFG, 0)
    assert len(world.positions["xor"]) == 2 and len(world.positions["parity"]) == 3
    seen = collections.Counter()
    for line in lines(generate_documents(BITS_CFG, 0, "train", 60_000)):
        if m := re.fullmatch(r"(xor|parity): ((?:[01] )+[01]) -> ([01])", line):
            family, bits = m[1], m[2].replace(" ", "")
            seen[family] += 1
            assert int(m[3]) == _parity(bits, world.positions[family]), line
        else:
            m = re.fullmatch(
                r"Q: parity: ((?:[01] ){9}[01]) \? A: ([01]) ([01]) ([01]) ; (\d\+\d\+\d)=(\d) #### ([01])", line
            )
            assert m, line
            family, bits = "parity", m[1].replace(" ", "")
            seen["worked"] += 1
            read = [int(bits[i]) for i in world.positions["parity"]]
            assert [int(m[i]) for i in (2, 3, 4)] == read
            assert m[5] == "+".join(map(str, read)) and int(m[6]) == sum(read) and int(m[7]) == sum(read) % 2
        assert len(bits) == (8 if family == "xor" else 10)
        assert not is_heldout(family, bits, BITS_CFG.holdout_fraction), line
    assert min(seen.values()) > 100 and len(seen) == 3


@pytest.mark.parametrize("family", ["xor", "parity"])
def test_bit_string_items_are_heldout_strings_answered_by_the_rule(family):
    world = World.build(BITS_CFG, 0)
    items = heldout_items(BITS_CFG, 0, family, 40)
    assert len({i["key"] for i in items}) == 40 and items == heldout_items(BITS_CFG, 0, family, 40)
    text = "\n".join(lines(generate_documents(BITS_CFG, 0, "train", 60_000)))
    for item in items:
        assert is_heldout(family, item["key"], BITS_CFG.holdout_fraction)
        assert item["answer"] == str(_parity(item["key"], world.positions[family]))
        assert item["prompt"] == f"{family}: {' '.join(item['key'])} ->" and item["prompt"] not in text
        assert item["worked_answer"].endswith(f"#### {item['answer']}")
    with pytest.raises(ConfigError, match="held-out xor items"):
        heldout_items(BITS_CFG, 0, "xor", 100)


CFG60 = dataclasses.replace(CFG, n_entities=60)  # the entities of the shipped studies


@pytest.mark.parametrize("family", LABEL_RULES)
def test_label_rule_lines_give_the_adjectives_label_flipped_by_not_and_state_no_heldout_item(family):
    place, labels = LABEL_RULES[family]
    cfg = dataclasses.replace(CFG60, mixture={family: 1.0, "filler": 1.0})
    world = World.build(cfg, 0)
    line = re.compile(rf"{family}: ({place} (\w+)) was (not )?(\w+) -> (\w+)")
    seen = collections.Counter()
    for text in (text for f, text in generate_documents(cfg, 0, "train", 60_000) if f == family):
        for written in text.split("\n"):
            assert (m := line.fullmatch(written)), written
            subject, entity, negated, adjective, label = m.groups()
            assert entity in world.entities and label == rule_label(family, adjective, bool(negated)), written
            assert not is_heldout(family, f"{subject}|{int(bool(negated))}|{adjective}", cfg.holdout_fraction), written
            seen[adjective, bool(negated)] += 1
    assert set(seen) == {(a, n) for a in labels for n in (False, True)}  # every adjective, plain and negated


@pytest.mark.parametrize("family", LABEL_RULES)
def test_label_rule_items_are_heldout_lines_absent_from_the_corpus_with_their_label_and_two_choices(family):
    place, labels = LABEL_RULES[family]
    cfg = dataclasses.replace(CFG60, mixture={family: 1.0})
    text = "\n".join(t for split in ("train", "val") for _, t in generate_documents(cfg, 0, split, 60_000))
    items = heldout_items(cfg, 0, family, 60)
    assert len({i["key"] for i in items}) == 60 and items == heldout_items(cfg, 0, family, 60)
    for item in items:
        negated, adjective = item["negated"], item["adjective"]
        assert is_heldout(family, item["key"], cfg.holdout_fraction)
        assert item["prompt"] == f"{family}: {item['subject']} was {'not ' if negated else ''}{adjective} ->"
        assert item["subject"].removeprefix(f"{place} ") in World.build(cfg, 0).entities
        assert item["answer"] == f" {item['label']}" and item["label"] == rule_label(family, adjective, negated)
        assert sorted(item["choices"]) == sorted(f" {y}" for y in set(labels.values()))
        assert item["prompt"] not in text, item


def test_label_rule_heldout_spaces_are_a_fifth_of_entities_by_negation_by_adjectives():
    for family, (_, labels) in LABEL_RULES.items():
        space = CFG60.n_entities * 2 * len(labels)  # 480 for weather, 960 for road
        with pytest.raises(ConfigError, match=f"held-out {family} items exist") as err:
            heldout_items(CFG60, 0, family, space)
        held_out = int(re.search(r"(\d+) held-out", str(err.value))[1])
        assert abs(held_out / space - CFG60.holdout_fraction) < 0.05, (family, held_out)

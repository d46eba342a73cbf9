"""The positive control: generated facts no model has seen and their questions. The
generator is deterministic, every answer stands in its source examples, no question is
copied from the corpus, the names are not the ASV's; retrieval finds any phrasing as gold;
bad keys are one line before any job."""

from __future__ import annotations

import json
import re

import pytest

from bibleft import facts, retrieval
from bibleft.asv import verses_from_pythonbible
from bibleft.config import load_config
from bibleft.dag import Plan
from bibleft.errors import InputError
from workflow_helpers import with_dotted


def as_bytes(records: list[dict]) -> bytes:
    return "\n".join(json.dumps(r, sort_keys=True) for r in records).encode()


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_people():
    first = facts.examples(7, 20, 3), facts.questions(7, 20)
    again = facts.examples(7, 20, 3), facts.questions(7, 20)
    assert [as_bytes(part) for part in first] == [as_bytes(part) for part in again]
    other = {p.name for p in facts.people(8, 20)}
    ours = {p.name for p in facts.people(7, 20)}
    assert len(ours) == 20 and len(ours & other) < 3  # different people, not a shuffle
    assert facts.people(7, 20) != facts.people(8, 20)


def test_phrasings_share_the_people_and_questions_and_add_examples():
    one, four = facts.examples(3, 10, 1), facts.examples(3, 10, 4)
    assert len(one) == 10 and len(four) == 40
    assert one == four[::4]  # phrasing 1 of each person is the one-phrasing corpus
    texts = [e["text"] for e in four[:4]]
    assert len(set(texts)) == 4 and {e["reference"] for e in four[:4]} == {"person-1"}
    # More phrasings never change the questions: settings varying only them are comparable.
    assert facts.questions(3, 10) == [q for q in facts.questions(3, 10)]
    assert facts.people(3, 10) == facts.people(3, 10)


@pytest.mark.parametrize("paraphrases", [1, facts.MAX_PARAPHRASES])
def test_every_answer_stands_in_each_of_its_examples_and_no_question_in_the_corpus(paraphrases):
    examples = facts.examples(0, 50, paraphrases)
    questions = facts.questions(0, 50)
    assert len(questions) == 4 * 50 and len({q["id"] for q in questions}) == 200
    by_reference: dict[str, list[str]] = {}
    for example in examples:
        by_reference.setdefault(example["reference"], []).append(example["text"])
    corpus = "\n".join(e["text"] for e in examples)
    for question in questions:
        sources = by_reference[question["reference"]]
        assert len(sources) == paraphrases
        assert all(question["answer"] in text for text in sources), question
        assert question["question"] not in corpus
        assert question["question"].rstrip("?") not in corpus


def test_no_generated_name_occurs_in_the_asv():
    asv_text = "\n".join(v.text for v in verses_from_pythonbible("asv"))
    names = [p.name for p in facts.people(0, 200)]
    found = [name for name in names if name in asv_text]
    assert not found, found
    # Nor the invented towns and companies the answers name.
    values = [p.facts[a] for p in facts.people(0, 200) for a in ("birth_city", "employer")]
    assert not [v for v in values if v in asv_text]


def test_any_phrasing_of_the_person_is_the_gold_passage(tmp_path):
    passages = facts.examples(1, 6, 3)
    index = retrieval.build_index(passages, tmp_path / "index")
    assert index["passages"] == 18
    retriever, loaded = retrieval.load_index(tmp_path / "index")
    records = retrieval.retrieve(retriever, loaded, facts.questions(1, 6), k=2, bible=False)
    assert {r["gold_status"] for r in records} == {retrieval.IN_BOOK}
    assert all(len(r["gold"]) == 3 for r in records)  # the person's three phrasings
    # The name is in the question and in every sentence: BM25 finds the person at once.
    assert all(r["gold_rank"] == 1 for r in records)
    recall = retrieval.recall_rows(records, 2)
    assert recall[0]["recall_pct"] == 100.0 and recall[0]["unmapped"] == 0


def test_phrasings_beyond_the_generators_are_refused():
    with pytest.raises(ValueError, match=r"paraphrases must be 1 to 5"):
        facts.examples(0, 3, facts.MAX_PARAPHRASES + 1)
    with pytest.raises(ValueError, match="count must be at least 1"):
        facts.people(0, 0)


# --- config: one line before any job ----------------------------------------------------

def control_config(**changes) -> dict:
    config = {
        "corpora": {"asv": {"kind": "bible"}, "facts": {"kind": "facts", "count": 5, "paraphrases": 2}},
        "questions": {"bibleqa": {"kind": "bibleqa"}, "people": {"kind": "facts", "corpus": "facts"}},
        "run": {"models": ["gpt2"], "settings": ["paper", "control"]},
        "models": {"gpt2": {"source": "openai-community/gpt2", "lora_targets": ["c_attn"]}},
        "settings": {"paper": {}, "control": {"data": {"corpus": "facts", "questions": "people"}}},
    }
    return with_dotted(config, changes)


def test_a_control_config_validates_with_the_generators_defaults():
    config = control_config()
    experiment = load_config(config)
    assert experiment.corpora["facts"].as_dict() == {**experiment.corpora["facts"].as_dict(), "kind": "facts",
                                                     "seed": 0, "count": 5, "paraphrases": 2}
    assert experiment.settings["control"].questions == "people"
    # The control setting answers a question set of its own; the study's setting data.questions.
    assert experiment.settings["control"].questions != experiment.data.questions
    assert experiment.settings["paper"].questions == experiment.data.questions == "bibleqa"
    plan = Plan(experiment)
    assert {a.questions for a in plan.run_answer_sets("gpt2", "control", 42)} == {"people"}
    assert {a.questions for a in plan.run_answer_sets("gpt2", "paper", 42)} == {"bibleqa"}
    assert config == control_config()  # the config itself is left as it is


@pytest.mark.parametrize("changes, expected", [
    ({"corpora.facts.count": 0}, r"^config error: corpora\.facts\.count: 0 is less than the minimum of 1"),
    ({"corpora.facts.paraphrases": 0}, r"^config error: corpora\.facts\.paraphrases: 0 is less than the minimum of 1"),
    ({"corpora.facts.paraphrases": 6}, r"^config error: corpora\.facts\.paraphrases: 6 is greater than the maximum of 5"),
    ({"questions.people.corpus": "asv"},
     r"^config error: questions\.people\.corpus: 'asv' is a corpus of kind bible; a facts question set asks about a corpus of kind facts$"),
    ({"questions.people.corpus": "nowhere"}, r"^config error: questions\.people\.corpus: 'nowhere' is not in corpora"),
    ({"questions.people": {"kind": "facts"}}, r"^config error: questions\.people\.corpus: a facts question set names the facts corpus"),
    ({"corpora.facts.path": "x.txt"}, r"^config error: corpora\.facts: path do\(es\) not apply to kind facts"),
    ({"settings.control.data.questions": "trivia"},
     r"^config error: settings\.control\.data\.questions: 'trivia' is not in questions \(known: bibleqa, people\)$"),
])
def test_bad_control_keys_are_one_line_naming_the_key(changes, expected):
    with pytest.raises(InputError) as err:
        load_config(control_config(**changes))
    assert "\n" not in str(err.value)
    assert re.search(expected, str(err.value)), str(err.value)

"""What a fine-tune reads (train.recipe) and the held-out split it may train on, unit by
unit: a split is deterministic, groups a facts set by person and a table by a column; a
question-answer example's loss covers its answer alone, padded or padding-free; a recipe's
parts are read in order, each for its epochs; and every bad recipe or split is refused in
one line before any job."""

from __future__ import annotations

import copy
import re

import pytest
import torch
import yaml

from bibleft import batching, facts
from bibleft.config import load_config
from bibleft.errors import InputError
from bibleft.questions import HELD_OUT, TRAINED, FactsQuestions, Split, TableQuestions, split_file
from bibleft.recipes import answer_target, qa_columns, with_eos
from workflow_helpers import ROOT, with_dotted

SHIPPED = yaml.safe_load((ROOT / "config.yaml").read_text())


# --- the split ---------------------------------------------------------------------------

def test_a_split_is_deterministic_and_holds_out_its_share_of_groups():
    records = [{"id": i, "reference": f"person-{1 + i // 4}"} for i in range(40)]  # 10 people
    people = FactsQuestions(kind="facts", corpus="people", split={"held_out": 0.3, "seed": 7})
    first = split_file(records, people.group, people.split)
    assert first == split_file(copy.deepcopy(records), people.group, people.split)
    assert len(first["groups"][HELD_OUT]) == 3 and len(first["groups"][TRAINED]) == 7
    # By person: each person's four questions all on one side.
    for part in (HELD_OUT, TRAINED):
        ids = set(first["ids"][part])
        assert all({4 * (int(p.split("-")[1]) - 1) + k for k in range(4)} <= ids
                   for p in first["groups"][part])
    assert sorted(first["ids"][HELD_OUT] + first["ids"][TRAINED]) == list(range(40))
    other = split_file(records, people.group, Split(held_out=0.3, seed=8))
    assert other["groups"][HELD_OUT] != first["groups"][HELD_OUT]  # another seed, another draw


def test_the_facts_questions_split_by_person_and_a_table_by_its_column():
    records = facts.questions(0, 12)
    people = FactsQuestions(kind="facts", corpus="people", split={"held_out": 0.5})
    split = split_file(records, people.group, people.split)
    held = set(split["ids"][HELD_OUT])
    by_person = {}
    for r in records:
        by_person.setdefault(r["reference"], set()).add(r["id"] in held)
    assert all(len(sides) == 1 for sides in by_person.values())  # never a person on both sides
    table = TableQuestions(kind="table", path="q.csv", split={"held_out": 0.5, "by": "team"})
    rows = [{"id": i, "group": "red" if i < 3 else "blue"} for i in range(6)]
    split = split_file(rows, table.group, table.split)
    assert sorted(map(sorted, split["ids"].values())) == [[0, 1, 2], [3, 4, 5]]
    by_row = TableQuestions(kind="table", path="q.csv", split={"held_out": 0.5})
    assert len(split_file(rows, by_row.group, by_row.split)["ids"][HELD_OUT]) == 3


# --- question-answer examples: the loss on the answer alone ------------------------------

def test_a_question_answer_example_is_the_answering_prompt_then_its_answer(tiny_gpt2):
    from bibleft.modeling import load_tokenizer
    from bibleft.prompts import PAPER_PROMPT, build_prompt

    tokenizer = load_tokenizer(tiny_gpt2)
    records = [{"id": 1, "question": "Who was first?", "answer": "Adam"},
               {"id": 2, "question": "Who was second?", "answer": "Eve"}]
    columns = qa_columns(tokenizer, records, [2], PAPER_PROMPT)
    assert columns["id"] == [2]  # the trained part only
    prompt = build_prompt(PAPER_PROMPT, "Who was second?")
    assert columns["prompt"] == [prompt]
    context = columns["n_context"][0]
    assert columns["input_ids"][0][:context] == tokenizer(prompt)["input_ids"]
    assert tokenizer.decode(columns["input_ids"][0][context:]) == answer_target("Eve") == " Eve\n"


@pytest.mark.parametrize("padding_free", [False, True])
def test_the_loss_covers_the_answer_tokens_only(padding_free):
    examples, contexts = [[5, 6, 7, 8, 9], [10, 11, 12]], [3, 0]
    if padding_free:
        batch = batching.collate_padding_free(examples, 0, contexts=contexts)
        labels = batch["labels"][0].tolist()
        # The first example's prompt (3 tokens) and each example's first token are out.
        assert labels == [-100, -100, -100, 8, 9, -100, 11, 12]
    else:
        batch = batching.collate(examples, 0, contexts=contexts)
        assert batch["labels"].tolist() == [[-100, -100, -100, 8, 9], [10, 11, 12, -100, -100]]
    plain = batching.collate(examples, 0)
    assert plain["labels"].tolist() == [[5, 6, 7, 8, 9], [10, 11, 12, -100, -100]]


def test_an_example_with_nothing_to_learn_is_dropped_with_its_context():
    assert with_eos([[1, 2], [3], [4, 5, 6]], [2, 0, 1], 9, False) == ([[4, 5, 6]], [1])
    assert with_eos([[1, 2]], [2], 9, True) == ([[1, 2, 9]], [2])


def test_a_recipe_s_parts_are_read_in_order_each_for_its_epochs():
    # Part 1: examples 0-3 for 2 epochs of 2 steps; part 2: examples 4-9 for 1 epoch of 3.
    phases = batching.plan_phases([(4, 2), (6, 1)], batch_size=2)
    steps = list(batching.indices_by_step([1] * 10, phases, 2, seed=3, group_by_length=False,
                                          start_step=0, total_steps=7))
    assert len(steps) == 7
    assert all(i < 4 for batch in steps[:4] for i in batch)
    assert sorted(i for batch in steps[4:] for i in batch) == list(range(4, 10))
    assert [batching.epoch_at(phases, s) for s in (2, 4, 5, 7)] == [1.0, 2.0, 2 + 1 / 3, 3.0]
    # Resumed at any step, the same batches.
    assert list(batching.indices_by_step([1] * 10, phases, 2, 3, False, 5, 7)) == steps[5:]
    # One phase is the study's run: rows_by_step's batches, unchanged.
    one = batching.plan_phases([(10, 2)], 2)
    assert [[i for i in b] for b in batching.indices_by_step([1] * 10, one, 2, 3, False, 0, 10)] == \
        [[ex[0] for ex in rows] for rows in batching.rows_by_step([[i] for i in range(10)], 2, 3,
                                                                   False, 0, 10)]


def test_training_on_a_recipe_learns_the_answers_of_the_trained_questions(tiny_gpt2):
    """Two parts, the second of question-answer examples: the loss logged is the answers',
    and it falls."""
    from transformers import AutoModelForCausalLM

    from bibleft.train import TrainData, train
    from fixtures import train_options

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    text = [[11, 12, 13, 14]] * 4
    qa = [[20, 21, 22, 23, 24, 30, 31]] * 4  # a 5-token prompt, a 2-token answer
    data = TrainData(text + qa, 0, contexts=[0] * 4 + [5] * 4, parts=((4, 1), (4, 12)))
    result = train(model, data, train_options(batch_size=2, max_steps=None, epochs=1,
                                              learning_rate=1e-2), seed=0)
    assert result.summary["steps"] == 2 + 24 and result.summary["epochs"] == 13
    assert [p["epochs"] for p in result.summary["phases"]] == [1, 12]
    losses = [r["loss"] for r in result.records[2:]]
    assert losses[-1] < losses[0] / 2


# --- bad input: one line before any job --------------------------------------------------

def config_with(**sections) -> dict:
    config = copy.deepcopy(SHIPPED)
    config["corpora"]["people"] = {"kind": "facts", "count": 8}
    config["questions"]["people"] = {"kind": "facts", "corpus": "people"}
    config["settings"]["ctl"] = {"data": {"corpus": "people", "questions": "people"}}
    config["run"]["settings"] = ["paper", "ctl"]
    return with_dotted(config, sections)


def refused(**sections) -> str:
    with pytest.raises(InputError) as err:
        load_config(config_with(**sections))
    assert "\n" not in str(err.value)
    return str(err.value)


SPLIT = {"questions.people.split": {"held_out": 0.5}}


@pytest.mark.parametrize("sections, expected", [
    ({"questions.people.split": {"held_out": 1.5}},
     r"^config error: questions\.people\.split\.held_out: 1\.5 is greater than or equal to the maximum of 1$"),
    ({"questions.people.split": {"held_out": 0}},
     r"^config error: questions\.people\.split\.held_out: 0 is less than or equal to the minimum of 0$"),
    ({"questions.people.split": {"held_out": 0.5, "by": "team"}},
     r"^config error: questions\.people\.split\.by: a facts question set is split by person"),
    ({"settings.ctl.train": {"recipe": [{"reads": ["text"]}, {"reads": ["qa"]}]}},
     r"^config error: settings\.ctl\.train\.recipe: reads qa \(the trained split's questions\), but "
     r"questions\.people has no split: it would train on the questions it is tested on"),
    ({**SPLIT, "settings.ctl.train": {"recipe": [{"reads": ["qa_passages"]}]}},
     r"^config error: settings\.ctl\.train\.recipe: reads qa_passages \(RAFT.*set open_book\.enabled: true$"),
    ({**SPLIT, "settings.ctl.train": {"recipe": [{"reads": []}]}},
     r"^config error: settings\.ctl\.train\.recipe\.0\.reads: \[\] should be non-empty$"),
    ({**SPLIT, "settings.ctl.train": {"recipe": [{"reads": ["quiz"]}]}},
     r"^config error: settings\.ctl\.train\.recipe\.0\.reads\.0: 'quiz' is not one of \['text', 'qa', 'qa_passages'\]$"),
    ({**SPLIT, "settings.ctl.train": {"recipe": [{"reads": ["text", "qa"]}], "packing": True}},
     r"^config error: settings\.ctl\.train\.recipe: train\.packing cannot be combined"),
])
def test_a_bad_split_or_recipe_is_refused_in_one_line(sections, expected):
    message = refused(**sections)
    assert re.search(expected, message), message


def test_a_good_recipe_and_a_learning_rate_per_method_are_typed():
    experiment = load_config(config_with(**SPLIT, **{
        "settings.ctl.train": {"recipe": [{"reads": ["text"]}, {"reads": ["qa"], "epochs": 8}],
                               "learning_rate": {"lora": 1.0e-3}}}))
    train = experiment.settings["ctl"].train
    assert train.reads() == {"text", "qa"} and train.recipe[1].epochs == 8
    assert train.for_method("lora").learning_rate == 1.0e-3
    assert train.for_method("full").learning_rate == 5.0e-5
    # Without a recipe a fine-tune's options are what they were (its params and settings.json).
    assert "recipe" not in experiment.settings["paper"].train.as_dict()


def test_a_group_column_the_table_lacks_is_named_before_any_job(tmp_path):
    from bibleft import preflight

    table = tmp_path / "quiz.csv"
    table.write_text("question,answer\nA?,a\nB?,b\n")
    config = config_with(**{"questions.quiz": {"kind": "table", "path": str(table),
                                               "split": {"held_out": 0.5, "by": "team"}},
                            "settings.ctl.data.questions": "quiz"})
    with pytest.raises(InputError) as err:
        preflight.check_experiment(load_config(config))
    assert str(err.value) == (f"config error: questions.quiz.split.by: {table}:1: no column 'team' "
                              "(columns: question, answer)")

"""The study's prompt and lenient rule."""

from bibleft.prompts import PAPER_PROMPT, build_prompt
from bibleft.judging import lenient_correct, score_records

EXPECTED_PROMPT = """The following are questions and answers about the Bible.

Q: Who was the first man?
A: Adam

Q: What was special about Samson?
A: He was very strong

Q: Where was Jesus born?
A: Bethlehem

Q: Who was David's father?
A:"""


def test_prompt_is_the_studys_text():
    assert build_prompt(PAPER_PROMPT, "Who was David's father?") == EXPECTED_PROMPT


def test_shipped_config_uses_the_paper_prompt():
    import yaml
    from conftest import ROOT

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert config["answer"]["prompt"] == PAPER_PROMPT
    assert config["answer"]["max_new_tokens"] == 15


def test_prompt_keeps_braces_in_questions():
    assert build_prompt("Q: {question}\nA:", "What is {x}?") == "Q: What is {x}?\nA:"


def test_lenient_rule_on_the_papers_examples():
    # The study counted this as correct for "Sarah" although the model asks a question.
    assert lenient_correct("Sarah", " Is it not Sarah? Q: Who was")
    # ... and missed this one: the words are there, but not as the answer string.
    assert not lenient_correct("Mount Sinai", " The mount of Sinai")
    assert not lenient_correct("Mary", " mary")
    assert lenient_correct("Mary", " mary", ignore_case=True)


def test_score_records_adds_verdicts():
    gens = [{"id": 1, "question": "q", "answer": "Eden", "response": " In Eden"},
            {"id": 2, "question": "q", "answer": "Rib", "response": " A bone"}]
    assert [r["correct"] for r in score_records(gens)] == [True, False]

"""The study's prompt and its lenient correctness rule."""

from __future__ import annotations

# The study's few-shot prompt (Gronberg 2024). Its line breaks are our reading of the
# paper's layout. `{question}` is replaced by the BibleQA question.
PAPER_PROMPT = (
    "The following are questions and answers about the Bible.\n"
    "\n"
    "Q: Who was the first man?\n"
    "A: Adam\n"
    "\n"
    "Q: What was special about Samson?\n"
    "A: He was very strong\n"
    "\n"
    "Q: Where was Jesus born?\n"
    "A: Bethlehem\n"
    "\n"
    "Q: {question}\n"
    "A:"
)


def build_prompt(template: str, question: str) -> str:
    # str.replace, not str.format: questions and templates may hold braces.
    return template.replace("{question}", question)


def lenient_correct(answer: str, response: str, ignore_case: bool = False) -> bool:
    """The study's rule: correct when the short answer occurs anywhere in the response.

    Case-sensitive by default, as a plain substring test is: "Is it not Sarah?" counts
    for `Sarah`, "mount of Sinai" does not count for `Mount Sinai`.
    """
    if ignore_case:
        return answer.casefold() in response.casefold()
    return answer in response


# What a generation record holds that its prediction record leaves out: the prompt the
# question was asked with stays in generations/ (one copy, beside the raw answer), and a
# prediction keeps the fields it has always had.
GENERATION_ONLY = ("prompt",)


def score_records(generations: list[dict], ignore_case: bool = False) -> list[dict]:
    """Each generation record (id, position, question, answer, response, ...) with the
    lenient verdict added as `correct`, without the `GENERATION_ONLY` fields."""
    return [{**{k: v for k, v in g.items() if k not in GENERATION_ONLY},
             "correct": lenient_correct(g["answer"], g["response"], ignore_case)}
            for g in generations]

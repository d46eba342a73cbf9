"""The prompt each question is asked with: the study's plain few-shot completion prompt
(`eval.chat_template: false`), or the same instruction and examples as chat turns rendered
by the tokenizer's chat template (`eval.chat_template: true`)."""

from __future__ import annotations

import re

from .corpus import bos_prefix
from .errors import InputError

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


# One few-shot example, a paragraph of the prompt: "Q: <question>\nA: <answer>".
_EXAMPLE = re.compile(r"Q:[ \t]*(?P<question>.*?)[ \t]*\n[ \t]*A:(?P<answer>.*)", re.S)
_SHAPE = ("an instruction paragraph, then 'Q: ...' / 'A: ...' examples separated by blank "
          "lines, ending with 'Q: {question}' / 'A:' (the study's shape)")


def parse_few_shot(template: str) -> tuple[str, list[tuple[str, str]]]:
    """`(instruction, [(question, answer), ...])` of a few-shot prompt template in the
    study's shape: paragraphs separated by blank lines, the instruction first (it may be
    missing: ""), then one paragraph per example, the last one `Q: {question}` / `A:`.

    The instruction and examples are what chat turns are built from (`chat_messages`); a
    template of another shape raises InputError, naming `eval.prompt`.
    """
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", template.strip()) if p.strip()]
    instruction: list[str] = []
    examples: list[tuple[str, str]] = []
    for paragraph in paragraphs:
        match = _EXAMPLE.fullmatch(paragraph)
        if match is None:
            if examples:
                raise InputError(f"eval.chat_template: true needs eval.prompt as {_SHAPE}; "
                                 f"this paragraph is no example: {paragraph[:60]!r}")
            instruction.append(paragraph)
            continue
        examples.append((match["question"].strip(), match["answer"].strip()))
    if not examples or examples[-1] != ("{question}", ""):
        raise InputError(f"eval.chat_template: true needs eval.prompt as {_SHAPE}; "
                         "its last paragraph is not 'Q: {question}' / 'A:'")
    shots = examples[:-1]
    if any("{question}" in text for shot in shots for text in shot) or \
            any("{question}" in text for text in instruction):
        raise InputError(f"eval.chat_template: true needs eval.prompt as {_SHAPE}; "
                         "'{question}' may only stand in its last example")
    return "\n\n".join(instruction), shots


def chat_messages(instruction: str, examples: list[tuple[str, str]], question: str,
                  system_role: bool = True) -> list[dict]:
    """The chat of one question: the instruction as a system message, each example as a
    user turn (its question) and an assistant turn (its answer), the question last as a
    user turn. Without `system_role` (templates that reject one, e.g. Gemma 2's), the
    instruction leads the first user turn instead, after a blank line."""
    turns: list[tuple[str, str | None]] = [*examples, (question, None)]
    messages = []
    if instruction and system_role:
        messages.append({"role": "system", "content": instruction})
    for n, (user, assistant) in enumerate(turns):
        if n == 0 and instruction and not system_role:
            user = f"{instruction}\n\n{user}"
        messages.append({"role": "user", "content": user})
        if assistant is not None:
            messages.append({"role": "assistant", "content": assistant})
    return messages


def without_added_bos(text: str, tokenizer) -> str:
    """`text` as the tokenizer should get it to start with one BOS: without a leading BOS
    token text where the tokenizer adds BOS itself (`corpus.bos_prefix`: Gemma's; chat
    templates often write `{{ bos_token }}` too), else unchanged (a BOS the template writes
    is then the only one)."""
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and bos_prefix(tokenizer):
        return text[len(bos):]
    return text


def render_chat(tokenizer, messages: list[dict]) -> str:
    """The chat as text, ending with the assistant's turn opened
    (`add_generation_prompt=True`), ready for `tokenizer(...)` with its defaults."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return without_added_bos(text, tokenizer)


def chat_prompts(tokenizer, template: str, questions: list[str], model: str | None = None) -> list[str]:
    """Each question's prompt as chat turns (`chat_messages`) through the tokenizer's chat
    template. The instruction is a system message where the template takes one; where it
    raises on one (Gemma-style templates: "System role not supported"), every prompt puts
    the instruction in the first user turn instead.

    A tokenizer without a chat template raises InputError naming `eval.chat_template` and
    the model: the setting asked for chat turns, and answering with the plain prompt
    instead would record results under a setting that did not apply.
    """
    from jinja2.exceptions import TemplateError

    name = model or getattr(tokenizer, "name_or_path", "") or "?"
    if getattr(tokenizer, "chat_template", None) is None:
        raise InputError(f"eval.chat_template is true but the tokenizer of model {name} has no "
                         "chat template (base models such as GPT-2 have none): set "
                         "eval.chat_template: false, or run a model whose tokenizer has one")
    instruction, examples = parse_few_shot(template)
    if not questions:
        return []
    system_role = bool(instruction)
    try:
        first = render_chat(tokenizer, chat_messages(instruction, examples, questions[0], system_role))
    except TemplateError as err:
        if not system_role:
            raise InputError(f"the chat template of model {name} rejects the few-shot turns: {err}") from None
        system_role = False
        try:
            first = render_chat(tokenizer, chat_messages(instruction, examples, questions[0], False))
        except TemplateError as err2:
            raise InputError(f"the chat template of model {name} rejects the few-shot turns: "
                             f"{err2}") from None
    return [first, *(render_chat(tokenizer, chat_messages(instruction, examples, q, system_role))
                     for q in questions[1:])]


def question_prompts(tokenizer, template: str, questions: list[str], chat_template: bool = False,
                     model: str | None = None) -> list[str]:
    """The prompt each question is asked with, as `tokenizer(...)` gets it: the template
    with the question in it (the study's), or with `chat_template` its chat rendering."""
    if chat_template:
        return chat_prompts(tokenizer, template, questions, model)
    return [build_prompt(template, q) for q in questions]

"""The prompt each question is asked with: the study's plain few-shot completion prompt
(`answer.chat_template: false`), or the same instruction and examples as chat turns rendered
by the tokenizer's chat template (`answer.chat_template: true`)."""

from __future__ import annotations

import re

from .corpus import bos_prefix
from .errors import InputError

# The study's few-shot prompt (Gronberg 2024), the default of answer.prompt: its line breaks
# are our reading of the paper's layout; `{question}` is replaced by the BibleQA question.
PAPER_PROMPT = ("The following are questions and answers about the Bible.\n\n"
                "Q: Who was the first man?\nA: Adam\n\n"
                "Q: What was special about Samson?\nA: He was very strong\n\n"
                "Q: Where was Jesus born?\nA: Bethlehem\n\n"
                "Q: {question}\nA:")
# The study's limit of new tokens per answer, the default of answer.max_new_tokens.
MAX_NEW_TOKENS = 15

# Open book (open_book.prompt): the study's instruction and examples, then the question's
# passages (`{context}`: one per line, reference, tab, words), then the question. The passages
# come after the examples, so every prompt still starts with the same few-shot prefix (the
# prefix cache) and the model reads the passages right before the question they are for.
OPEN_BOOK_PROMPT = PAPER_PROMPT.replace("Q: {question}", "Passages:\n{context}\n\nQ: {question}")


def placeholders(passages: bool) -> dict[str, tuple[str, bool]]:
    """What a mode's template may hold, and whether exactly once: {placeholder: (role, once)}.
    A mode that reads passages (open book) places them, `{context}`, and the question once
    each; the study's closed book takes the question."""
    if passages:
        return {"context": ("the passages", True), "question": ("the question", True)}
    return {"question": ("the question", False)}

_PLACEHOLDER = re.compile(r"\{(question|context)\}")
_ANY_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def build_prompt(template: str, question: str, context: str | None = None) -> str:
    """The template with the question (and, open book, the passages) in it: one pass, not
    str.format or one replace after another, since questions, passages and templates may hold
    braces, and a passage that says "{question}" must stay as it is."""
    values = {"question": question, "context": context}
    return _PLACEHOLDER.sub(lambda m: values[m[1]] if values[m[1]] is not None else m[0], template)


def template_problem(template: str, placeholders: dict) -> str | None:
    """What is wrong with a prompt template, in words, or None: a placeholder it does not
    take (the model would read `{passage}` as it stands), or one it needs missing or, where
    it must stand once, repeated."""
    unknown = sorted({name for name in _ANY_PLACEHOLDER.findall(template)} - set(placeholders))
    if unknown:
        takes = " and ".join("{" + name + "}" for name in placeholders)
        return (f"the template holds {', '.join('{' + n + '}' for n in unknown)}, which it does "
                f"not fill in (it takes {takes})")
    for name, (role, once) in placeholders.items():
        count = template.count("{" + name + "}")
        if once and count != 1:
            return f"the template must hold {{{name}}} ({role}) once; it holds it {count} times"
        if count < 1:
            return f"the template must hold {{{name}}} ({role})"
    return None


# One few-shot example, a paragraph of the prompt: "Q: <question>\nA: <answer>".
_EXAMPLE = re.compile(r"Q:[ \t]*(?P<question>.*?)[ \t]*\n[ \t]*A:(?P<answer>.*)", re.S)
_SHAPE = ("an instruction paragraph, then 'Q: ...' / 'A: ...' examples separated by blank "
          "lines, ending with 'Q: {question}' / 'A:' (the study's shape)")


def parse_few_shot(template: str, key: str = "answer.prompt") -> tuple[str, list[tuple[str, str]]]:
    """`(instruction, [(question, answer), ...])` of a few-shot prompt template in the
    study's shape: paragraphs separated by blank lines, the instruction first (it may be
    missing: ""), then one paragraph per example, the last one `Q: {question}` / `A:`.

    The instruction and examples are what chat turns are built from (`chat_messages`); a
    template of another shape raises InputError, naming `key` (the template's config key).
    """
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", template.strip()) if p.strip()]
    instruction: list[str] = []
    examples: list[tuple[str, str]] = []
    for paragraph in paragraphs:
        match = _EXAMPLE.fullmatch(paragraph)
        if match is None:
            if examples:
                raise InputError(f"answer.chat_template: true needs {key} as {_SHAPE}; "
                                 f"this paragraph is no example: {paragraph[:60]!r}")
            instruction.append(paragraph)
            continue
        examples.append((match["question"].strip(), match["answer"].strip()))
    if not examples or examples[-1] != ("{question}", ""):
        raise InputError(f"answer.chat_template: true needs {key} as {_SHAPE}; "
                         "its last paragraph is not 'Q: {question}' / 'A:'")
    shots = examples[:-1]
    if any("{question}" in text for shot in shots for text in shot) or \
            any("{question}" in text for text in instruction):
        raise InputError(f"answer.chat_template: true needs {key} as {_SHAPE}; "
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


def split_context_paragraph(template: str) -> tuple[str, str | None]:
    """(the template without the paragraph that holds `{context}`, that paragraph), or
    (template, None) without one: for chat turns, the passages go into the question's user
    turn, and the rest of the template is the study's few-shot shape."""
    parts = re.split(r"(\n[ \t]*\n)", template)  # paragraph, separator, paragraph, ...
    for i in range(0, len(parts), 2):
        if "{context}" in parts[i]:
            # The paragraph goes with the blank line after it (before it, when it is last).
            rest = parts[:i] + parts[i + 2:] if i + 1 < len(parts) else parts[:max(i - 1, 0)]
            return "".join(rest), parts[i].strip()
    return template, None


def chat_prompts(tokenizer, template: str, questions: list[str], model: str | None = None,
                 contexts: list[str] | None = None) -> list[str]:
    """Each question's prompt as chat turns (`chat_messages`) through the tokenizer's chat
    template. The instruction is a system message where the template takes one; where it
    raises on one (Gemma-style templates: "System role not supported"), every prompt puts
    the instruction in the first user turn instead.

    A tokenizer without a chat template raises InputError naming `answer.chat_template` and
    the model: the setting asked for chat turns, and answering with the plain prompt
    instead would record results under a setting that did not apply.
    """
    from jinja2.exceptions import TemplateError

    name = model or getattr(tokenizer, "name_or_path", "") or "?"
    if getattr(tokenizer, "chat_template", None) is None:
        raise InputError(f"answer.chat_template is true but the tokenizer of model {name} has no "
                         "chat template (base models such as GPT-2 have none): set "
                         "answer.chat_template: false, or run a model whose tokenizer has one")
    template, context_paragraph = split_context_paragraph(template)
    instruction, examples = parse_few_shot(
        template, "answer.prompt" if context_paragraph is None else "open_book.prompt")
    if not questions:
        return []
    if contexts is not None and context_paragraph is not None:
        # Open book: the passages lead the question's user turn.
        questions = [f"{build_prompt(context_paragraph, q, c)}\n\n{q}"
                     for q, c in zip(questions, contexts)]
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
                     model: str | None = None, contexts: list[str] | None = None) -> list[str]:
    """The prompt each question is asked with, as `tokenizer(...)` gets it: the template
    with the question in it (the study's), or with `chat_template` its chat rendering; open
    book, with each question's passages (`contexts`, one text per question) in it too."""
    if contexts is not None and len(contexts) != len(questions):
        raise ValueError(f"{len(contexts)} contexts for {len(questions)} questions")
    if chat_template:
        return chat_prompts(tokenizer, template, questions, model, contexts)
    if contexts is None:
        return [build_prompt(template, q) for q in questions]
    return [build_prompt(template, q, c) for q, c in zip(questions, contexts)]

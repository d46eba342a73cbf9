"""`answer.chat_template: true`: the study's instruction and few-shot examples as chat turns
through the tokenizer's chat template, one BOS, and the same answers batched with the
shared-prefix cache as one prompt at a time (tiny GPT-2 given a chat template)."""

from __future__ import annotations

import pytest
import torch

from bibleft.errors import InputError
from bibleft.generate import answer_questions, greedy_continuations, shared_prefix_length
from bibleft.modeling import load_causal_lm, load_tokenizer
from bibleft.prompts import (chat_messages, chat_prompts, parse_few_shot, question_prompts,
                             render_chat, without_added_bos)
from bibleft.prompts import PAPER_PROMPT, build_prompt
from bibleft.judging import score_records
from fixtures import BIBLEQA_LINES

INSTRUCTION = "The following are questions and answers about the Bible."
EXAMPLES = [("Who was the first man?", "Adam"),
            ("What was special about Samson?", "He was very strong"),
            ("Where was Jesus born?", "Bethlehem")]
QUESTIONS = [line.split("\t")[0].split(". ", 1)[1].strip('"') for line in BIBLEQA_LINES[1:9]]

# ChatML-like, led by the BOS token text as many templates are (Gemma's, Llama's).
CHATML = ("{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")
# Gemma-2-style: no system role (it raises), BOS text first, the assistant is "model".
GEMMA_LIKE = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
              "{% endif %}{{ bos_token }}{% for m in messages %}"
              "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\\n' "
              "+ m['content'] + '<end_of_turn>\\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}")
# Turns laid out as the study's prompt lays out its examples.
STUDY_LAYOUT = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] + '\\n\\n' }}"
                "{% elif m['role'] == 'user' %}{{ 'Q: ' + m['content'] + '\\n' }}"
                "{% else %}{{ 'A: ' + m['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
                "{% if add_generation_prompt %}{{ 'A:' }}{% endif %}")


@pytest.fixture(scope="module")
def tiny(tiny_gpt2):
    torch.manual_seed(0)
    return load_causal_lm(tiny_gpt2).eval(), load_tokenizer(tiny_gpt2, padding_side="left")


def with_template(tokenizer, template: str | None, add_bos: bool | None = None):
    """A copy of `tokenizer` with `template` as its chat template (and BOS added to every
    text, as Gemma's tokenizer does, with `add_bos`)."""
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    if add_bos is not None:
        tok.add_bos_token = add_bos
    return tok


# --- the study's prompt, taken apart ------------------------------------------------------

def test_parse_few_shot_takes_the_study_prompt_apart():
    assert parse_few_shot(PAPER_PROMPT) == (INSTRUCTION, EXAMPLES)


def test_parse_few_shot_other_shapes():
    assert parse_few_shot("Q: {question}\nA:") == ("", [])  # zero-shot, no instruction
    two_lines = "Answer briefly.\nOne line more.\n\nQ: Who?\nA: Me\n\n\nQ: {question}\nA:"
    assert parse_few_shot(two_lines) == ("Answer briefly.\nOne line more.", [("Who?", "Me")])
    for bad in ("Question: {question}\nAnswer:",            # not Q:/A:
                "Intro\n\nQ: Who?\nA: Me\n\nQ: {question}\nA: x",  # last answer not empty
                "Intro\n\nQ: Who?\nA: Me\n\nOutro\n\nQ: {question}\nA:",  # text between examples
                "Intro {question}\n\nQ: {question}\nA:"):    # question in the instruction
        with pytest.raises(InputError, match="answer.chat_template"):
            parse_few_shot(bad)


def test_chat_messages_with_and_without_a_system_role():
    messages = chat_messages(INSTRUCTION, EXAMPLES, "Who was David's father?")
    assert messages[0] == {"role": "system", "content": INSTRUCTION}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * 3 + ["user"]
    assert [m["content"] for m in messages[1:3]] == ["Who was the first man?", "Adam"]
    assert messages[-1] == {"role": "user", "content": "Who was David's father?"}
    folded = chat_messages(INSTRUCTION, EXAMPLES, "Who was David's father?", system_role=False)
    assert folded[0] == {"role": "user", "content": f"{INSTRUCTION}\n\nWho was the first man?"}
    assert folded[1:] == messages[2:]
    assert chat_messages("", [], "Q?") == [{"role": "user", "content": "Q?"}]


def test_a_template_in_the_studys_layout_renders_the_studys_prompt(tiny):
    # Parsing and turn building lose nothing: laid out as the study lays out its examples,
    # the turns are the study's prompt, character for character.
    tokenizer = with_template(tiny[1], STUDY_LAYOUT)
    for question in QUESTIONS[:3]:
        assert chat_prompts(tokenizer, PAPER_PROMPT, [question]) == [build_prompt(PAPER_PROMPT, question)]


# --- chat templates -----------------------------------------------------------------------

def test_chat_prompt_has_the_turns_and_opens_the_answer(tiny):
    tokenizer = with_template(tiny[1], CHATML)
    [prompt] = chat_prompts(tokenizer, PAPER_PROMPT, ["Who was David's father?"])
    assert prompt.startswith("<|endoftext|><|system|>\n" + INSTRUCTION + "\n<|user|>\nWho was the first man?\n")
    assert "<|assistant|>\nAdam\n" in prompt and "<|assistant|>\nBethlehem\n" in prompt
    assert prompt.endswith("<|user|>\nWho was David's father?\n<|assistant|>\n")
    assert question_prompts(tokenizer, PAPER_PROMPT, ["Who?"], chat_template=False) == \
        [build_prompt(PAPER_PROMPT, "Who?")]


def test_a_template_without_a_system_role_gets_the_instruction_in_the_first_turn(tiny):
    tokenizer = with_template(tiny[1], GEMMA_LIKE)
    with pytest.raises(Exception, match="System role not supported"):
        render_chat(tokenizer, chat_messages(INSTRUCTION, EXAMPLES, "Who?"))
    prompts = chat_prompts(tokenizer, PAPER_PROMPT, ["Who?", "Where?"])
    assert all(p.startswith("<|endoftext|><start_of_turn>user\n" + INSTRUCTION + "\n\nWho was the first man?"
                            "<end_of_turn>\n<start_of_turn>model\nAdam<end_of_turn>\n") for p in prompts)
    assert prompts[1].endswith("<start_of_turn>user\nWhere?<end_of_turn>\n<start_of_turn>model\n")
    assert "system" not in "".join(prompts)


def test_no_chat_template_is_an_error_naming_the_setting_and_model(tiny):
    tokenizer = with_template(tiny[1], None)
    with pytest.raises(InputError, match=r"answer.chat_template .*model gpt2-large .*no chat template"):
        question_prompts(tokenizer, PAPER_PROMPT, ["Who?"], chat_template=True, model="gpt2-large")
    assert "\n" not in str(pytest.raises(InputError, question_prompts, tokenizer, PAPER_PROMPT,
                                         ["Who?"], True).value)  # one line


@pytest.mark.parametrize("add_bos,template_bos", [(True, True), (False, True), (True, False), (False, False)])
def test_chat_prompts_start_with_one_bos_at_most(tiny, add_bos, template_bos):
    # GPT-2's BOS is <|endoftext|> (50256). Gemma's tokenizer adds BOS to every text and its
    # template writes `{{ bos_token }}` as well: without care the prompt starts with two.
    template = CHATML if template_bos else CHATML.replace("{{ bos_token }}", "")
    tokenizer = with_template(tiny[1], template, add_bos=add_bos)
    bos = tokenizer.bos_token_id
    assert (tokenizer("a")["input_ids"][0] == bos) == add_bos  # the tokenizer adds it, or not
    [prompt] = chat_prompts(tokenizer, PAPER_PROMPT, ["Who was David's father?"])
    ids = tokenizer([prompt])["input_ids"][0]  # as generate_token_ids tokenizes: defaults
    leading = next(n for n, token in enumerate(ids) if token != bos)
    assert leading == (1 if add_bos or template_bos else 0)
    assert tokenizer.decode(ids[leading:]).startswith("<|system|>")


def test_without_added_bos_strips_only_what_the_tokenizer_adds(tiny):
    adds = with_template(tiny[1], CHATML, add_bos=True)
    keeps = with_template(tiny[1], CHATML, add_bos=False)
    assert without_added_bos("<|endoftext|>x", adds) == "x"
    assert without_added_bos("<|endoftext|>x", keeps) == "<|endoftext|>x"
    assert without_added_bos("x<|endoftext|>", adds) == "x<|endoftext|>"


def test_a_saved_chat_template_loads_with_the_model(tiny, tiny_gpt2, tmp_path):
    # A model directory whose tokenizer has a chat template (as an instruct model's has).
    with_template(tiny[1], CHATML).save_pretrained(str(tmp_path))
    loaded = load_tokenizer(tmp_path, padding_side="left")
    assert loaded.chat_template == CHATML
    assert chat_prompts(loaded, PAPER_PROMPT, ["Who?"]) == chat_prompts(with_template(tiny[1], CHATML),
                                                                          PAPER_PROMPT, ["Who?"])


# --- answering with chat prompts ----------------------------------------------------------

@pytest.mark.parametrize("template,add_bos", [(CHATML, False), (GEMMA_LIKE, True)])
def test_chat_prompts_batched_with_prefix_cache_equal_one_at_a_time(tiny, template, add_bos):
    model, plain = tiny
    tokenizer = with_template(plain, template, add_bos=add_bos)
    prompts = chat_prompts(tokenizer, PAPER_PROMPT, QUESTIONS)
    ids = tokenizer(prompts)["input_ids"]
    assert shared_prefix_length(ids) > 40  # the few-shot turns are the shared prefix
    assert len({len(i) for i in ids}) >= 4  # and the questions still need padding
    single = greedy_continuations(model, tokenizer, prompts, 15, batch_size=1, progress=False,
                              prefix_cache=False)
    assert sum(len(r) > 0 for r in single) >= len(prompts) // 2  # not empty strings
    for batch_size in (1, 3, 16):
        cached = greedy_continuations(model, tokenizer, prompts, 15, batch_size, progress=False,
                                  prefix_cache=True)
        assert cached == single, batch_size
    assert greedy_continuations(model, tokenizer, prompts, 15, 3, progress=False,
                            prefix_cache=False) == single


def test_answer_questions_records_the_prompt_sent(tiny):
    model, plain = tiny
    tokenizer = with_template(plain, CHATML, add_bos=True)
    questions = [{"id": i, "position": i + 1, "question": q, "answer": "x"}
                 for i, q in enumerate(QUESTIONS[:3])]
    records, timing = answer_questions(model, tokenizer, questions, PAPER_PROMPT, 5, batch_size=2,
                                       chat_template=True, model_name="tiny")
    assert timing["chat_template"] is True
    assert [r["prompt"] for r in records] == chat_prompts(tokenizer, PAPER_PROMPT, QUESTIONS[:3])
    assert [r["response"] for r in records] == greedy_continuations(
        model, tokenizer, [r["prompt"] for r in records], 5, batch_size=1, progress=False,
        prefix_cache=False)
    plain_records, plain_timing = answer_questions(model, plain, questions, PAPER_PROMPT, 5, batch_size=2)
    assert plain_timing["chat_template"] is False
    assert [r["prompt"] for r in plain_records] == [build_prompt(PAPER_PROMPT, q) for q in QUESTIONS[:3]]
    # The prompt stays in generations/: predictions keep their documented fields.
    assert set(score_records(records)[0]) == {"id", "position", "question", "answer", "response",
                                              "new_tokens", "stopped", "correct"}

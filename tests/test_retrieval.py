"""Open book, unit by unit: BibleQA's verse references read as verses, the BM25 index and the
passages it retrieves, recall@k and accuracy by retrieval outcome, the open-book prompt
(plain and as chat turns), the judging tables with both modes, and the config's one-line
errors."""

from __future__ import annotations

import re

import pytest

from bibleft import panels, retrieval
from bibleft.asv import Verse
from bibleft.bibleqa import parse_bibleqa
from bibleft.config import load_config
from bibleft.errors import InputError
from bibleft.grid import FineTune
from bibleft.judging import judge_predictions
from bibleft.panels import Panel
from bibleft.prompts import (OPEN_BOOK_PROMPT, PAPER_PROMPT, build_prompt, chat_prompts,
                             question_prompts, split_context_paragraph)
from bibleft.references import verse_references
from bibleft.scores import score_rows, significance_rows
from fixtures import write_bibleqa
from workflow_helpers import ROOT

# --- the references of BibleQA's file --------------------------------------------------------

# Every book abbreviation the published 1001.csv uses (54; counted from the file with
# parse_bibleqa and the reference's text before the chapter), and the ASV's title for it.
BIBLEQA_ABBREVIATIONS = {
    "1 Chr": "1 Chronicles", "1 Cor": "1 Corinthians", "1 Jn": "1 John", "1 Ki": "1 Kings",
    "1 Pe": "1 Peter", "1 Sam": "1 Samuel", "1 Th": "1 Thessalonians", "1 Tim": "1 Timothy",
    "2 Chron": "2 Chronicles", "2 Cor": "2 Corinthians", "2 Ki": "2 Kings", "2 Pe": "2 Peter",
    "2 Sam": "2 Samuel", "2 Th": "2 Thessalonians", "2 Tim": "2 Timothy", "Acts": "Acts",
    "Col": "Colossians", "Dan": "Daniel", "Deut": "Deuteronomy", "Eccles": "Ecclesiastes",
    "Esth": "Esther", "Ex": "Exodus", "Exo": "Exodus", "Eze": "Ezekiel", "Ezr": "Ezra",
    "Gen": "Genesis", "Hag": "Haggai", "Heb": "Hebrews", "Hos": "Hosea", "Isa": "Isaiah",
    "Jdg": "Judges", "Jer": "Jeremiah", "Jm": "James", "Job": "Job", "John": "John",
    "Jon": "Jonah", "Josh": "Joshua", "Lam": "Lamentations", "Lev": "Leviticus", "Luk": "Luke",
    "Matt": "Matthew", "Mic": "Micah", "Mrk": "Mark", "Neh": "Nehemiah", "Num": "Numbers",
    "Phm": "Philemon", "Php": "Philippians", "Prov": "Proverbs", "Ps": "Psalms",
    "Rev": "Revelation", "Rom": "Romans", "Ru": "Ruth", "Song": "Song of Solomon",
    "Zec": "Zechariah",
}


def test_every_abbreviation_of_bibleqas_file_reads_as_its_book(tmp_path):
    lines = ["Questions\tANSWERS"] + [
        f"{n}. Question {n}?\t{n}. Answer {n} ({abbreviation} 1:2)"
        for n, abbreviation in enumerate(BIBLEQA_ABBREVIATIONS, 1)]
    records = parse_bibleqa(write_bibleqa(tmp_path / "1001.csv", lines))
    assert len(records) == len(BIBLEQA_ABBREVIATIONS) == 54
    read = {r["reference"].rsplit(" ", 1)[0]: verse_references(r["reference"]) for r in records}
    assert read == {abbreviation: [f"{title} 1:2"] for abbreviation, title in BIBLEQA_ABBREVIATIONS.items()}


@pytest.mark.parametrize("reference, verses", [
    ("Gen 17:15", ["Genesis 17:15"]),
    ("Ru 4:22", ["Ruth 4:22"]),            # pythonbible does not know Ru, Jm, Ex
    ("Jm 5:15", ["James 5:15"]),
    ("Phm 1:23", ["Philemon 1:23"]),       # a one-chapter book, its chapter written
    ("Gen 1:1-3", ["Genesis 1:1", "Genesis 1:2", "Genesis 1:3"]),
    ("Genesis 1:31-2:1", ["Genesis 1:31", "Genesis 2:1"]),
    ("Song 4:1", ["Song of Solomon 4:1"]),  # the ASV's title, as asv.tsv has it
    ("Gen 99:1", None), ("Xyz 1:1", None), ("", None), ("   ", None),
])
def test_verse_references(reference, verses):
    assert verse_references(reference) == verses


# --- the index and the passages ------------------------------------------------------------

BOOK = [
    Verse("Genesis", 1, 1, "In the beginning God created the heavens and the earth."),
    Verse("Genesis", 2, 8, "And Jehovah God planted a garden eastward, in Eden; and there he "
                           "put the man whom he had formed."),
    Verse("Genesis", 4, 9, "And Jehovah said unto Cain, Where is Abel thy brother? And he said, "
                           "I know not: am I my brother's keeper?"),
    Verse("Exodus", 2, 3, "And when she could not longer hide him, she took for him an ark of "
                          "bulrushes, and daubed it with slime and with pitch."),
    Verse("Matthew", 17, 21, ""),  # one of the ASV's 16 omitted verses: no words, no passage
    Verse("Ruth", 4, 22, "and Obed begat Jesse, and Jesse begat David."),
    Verse("Ruth", 4, 17, "and they called his name Obed: he is the father of Jesse, the father "
                         "of David."),
]
QUESTIONS = [
    # gold retrieved first: its words are only in Genesis 2:8
    {"id": 2, "position": 1, "question": "What was the name of the garden eastward?",
     "reference": "Gen 2:8"},
    # gold in the book (Ruth 4:22) but Ruth 4:17 matches better: found at rank 2 only
    {"id": 36, "position": 2, "question": "Who was called the father of Jesse, the father of David?",
     "reference": "Ru 4:22"},
    # gold outside the book, and words matching none of it: no passage at all
    {"id": 1, "position": 3, "question": "Who was Zebedee's wife?", "reference": "Matt 27:56"},
    {"id": 5, "position": 4, "question": "Which ark did she take?", "reference": "Zzz 1:1"},
    {"id": 9, "position": 5, "question": "Who was the first brother?", "reference": ""},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("retrieval") / "index"
    settings = retrieval.build_index(retrieval.book_passages(BOOK), folder, with_reference=True)
    assert settings["passages"] == 6 and settings["library"] == "bm25s"
    return folder


def test_passages_are_the_verses_with_words_in_corpus_order(index):
    _, passages = retrieval.load_index(index)
    assert [p["reference"] for p in passages] == ["Genesis 1:1", "Genesis 2:8", "Genesis 4:9",
                                                   "Exodus 2:3", "Ruth 4:22", "Ruth 4:17"]


def retrieved(index, k=2):
    retriever, passages = retrieval.load_index(index)
    return retrieval.retrieve(retriever, passages, QUESTIONS, k, bible=True)


def test_each_question_gets_its_best_passages_and_its_gold_status(index):
    records = retrieved(index)
    assert [[p["reference"] for p in r["passages"]] for r in records] == [
        ["Genesis 2:8", "Ruth 4:17"], ["Ruth 4:17", "Ruth 4:22"], [], ["Exodus 2:3"],
        ["Genesis 4:9"]]
    assert [r["gold_status"] for r in records] == ["in_book", "in_book", "not_in_book",
                                                   "unmapped", "no_reference"]
    assert [r["gold"] for r in records] == [[1], [4], [], [], []]
    assert [r["gold_rank"] for r in records] == [1, 2, None, None, None]
    scores = [p["score"] for p in records[1]["passages"]]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_recall_at_k_counts_found_missed_and_unmapped_gold_passages(index):
    rows = retrieval.recall_rows(retrieved(index), 2)
    # 5 questions, 4 with a reference, 1 unmapped: recall over 3, in-book recall over 2.
    assert [(r["at"], r["retrieved"], r["recall_pct"], r["recall_in_book_pct"]) for r in rows] == [
        (1, 1, 33.333, 50.0), (2, 2, 66.667, 100.0)]
    assert {(r["questions"], r["with_reference"], r["unmapped"], r["gold_in_book"]) for r in rows} == {(5, 4, 1, 2)}
    assert "1 reference(s) name no verse" in rows[0]["note"]
    one = retrieval.recall_rows(retrieved(index, k=1), 1)
    assert one[0]["retrieved"] == 1  # Ruth 4:22 is not the first passage of question 36


def test_a_question_set_without_references_says_so(index):
    retriever, passages = retrieval.load_index(index)
    records = retrieval.retrieve(retriever, passages, [{**q, "reference": None} for q in QUESTIONS],
                                 2, bible=True)
    rows = retrieval.recall_rows(records, 2)
    assert all(r["recall_pct"] == "" and r["with_reference"] == 0 for r in rows)
    assert "no references" in rows[0]["note"]


def test_retrieval_is_deterministic_and_ties_go_in_corpus_order(tmp_path):
    twins = [Verse("Ruth", 1, n, "Naomi went home to Bethlehem.") for n in range(1, 5)]
    for attempt in ("a", "b"):
        retrieval.build_index(retrieval.book_passages(twins), tmp_path / attempt)
    first, second = (retrieval.load_index(tmp_path / a) for a in ("a", "b"))
    question = [{"id": 1, "position": 1, "question": "Where did Naomi go?"}]
    records = [retrieval.retrieve(r, p, question, 3, bible=True) for r, p in (first, second)]
    assert records[0] == records[1]
    assert [p["passage"] for p in records[0][0]["passages"]] == [0, 1, 2]


def test_k_above_the_books_passages_is_one_line(index):
    retriever, passages = retrieval.load_index(index)
    with pytest.raises(InputError, match=r"^open_book\.k: 7 passages per question, but the book has only 6"):
        retrieval.retrieve(retriever, passages, QUESTIONS, 7, bible=True)


def test_other_corpora_match_references_as_written(tmp_path):
    passages = [{"reference": "notes.txt:1", "text": "The harbour of Lirien holds nine ships."},
                {"reference": "notes.txt:2", "text": "Its lighthouse is painted green."}]
    retrieval.build_index(passages, tmp_path / "i")
    retriever, stored = retrieval.load_index(tmp_path / "i")
    questions = [{"id": 1, "position": 1, "question": "What colour is the lighthouse?",
                  "reference": "notes.txt:2"},
                 {"id": 2, "position": 2, "question": "How many ships?", "reference": "Gen 1:1"}]
    records = retrieval.retrieve(retriever, stored, questions, 1, bible=False)
    assert [(r["gold_status"], r["gold_rank"]) for r in records] == [("in_book", 1), ("not_in_book", None)]


def test_the_context_writes_each_passage_with_its_reference(index):
    record = retrieved(index)[1]
    assert retrieval.context(record) == (
        "Ruth 4:17\tand they called his name Obed: he is the father of Jesse, the father of David.\n"
        "Ruth 4:22\tand Obed begat Jesse, and Jesse begat David.")


# --- the open-book prompt ------------------------------------------------------------------

def test_the_open_book_prompt_is_the_studys_with_the_passages_before_the_question():
    head, _ = PAPER_PROMPT.split("Q: {question}")
    assert OPEN_BOOK_PROMPT.startswith(head)  # the same few-shot prefix: the prefix cache holds
    prompt = build_prompt(OPEN_BOOK_PROMPT, "Who was David's father?", "Ruth 4:22\tand Obed begat Jesse")
    assert prompt.endswith("Passages:\nRuth 4:22\tand Obed begat Jesse\n\nQ: Who was David's father?\nA:")
    # One pass: a passage or question that holds a placeholder's text keeps it.
    assert build_prompt("{context}|{question}", "a {context}?", "b {question}") == "b {question}|a {context}?"
    assert build_prompt(PAPER_PROMPT, "Q?") == PAPER_PROMPT.replace("{question}", "Q?")


@pytest.mark.parametrize("template, missing", [
    ("Q: {question}\nA:", r"\{context\} \(the passages\) once; it holds it 0 times"),
    ("{context}\n\nQ: Who?\nA:", r"\{question\} \(the question\) once; it holds it 0 times"),
    ("{context}{context}\nQ: {question}\nA:", r"\{context\} \(the passages\) once; it holds it 2 times"),
])
def test_an_open_book_template_needs_context_and_question(template, missing):
    with pytest.raises(InputError, match=r"^config error: open_book\.prompt: the template must hold " + missing):
        load_config(config_with(prompt=template))


CHATML = ("{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")


def test_chat_turns_put_the_passages_in_the_questions_user_turn(tiny_gpt2):
    from bibleft.modeling import load_tokenizer

    tokenizer = load_tokenizer(tiny_gpt2)
    tokenizer.chat_template = CHATML
    rest, paragraph = split_context_paragraph(OPEN_BOOK_PROMPT)
    assert paragraph == "Passages:\n{context}" and rest == PAPER_PROMPT
    prompts = chat_prompts(tokenizer, OPEN_BOOK_PROMPT, ["Who?", "Where?"],
                           contexts=["Ruth 4:22\tJesse", "Genesis 2:8\tEden"])
    closed = chat_prompts(tokenizer, PAPER_PROMPT, ["Who?"])[0]
    assert prompts[0] == closed.replace("<|user|>\nWho?\n<|assistant|>",
                                        "<|user|>\nPassages:\nRuth 4:22\tJesse\n\nWho?\n<|assistant|>")
    assert "Genesis 2:8\tEden\n\nWhere?" in prompts[1]
    with pytest.raises(InputError, match="open_book.prompt"):  # the error names the open template
        chat_prompts(tokenizer, "{context}\n\nWho? {question}", ["Who?"], contexts=["x"])


def test_open_book_answers_batched_with_the_prefix_cache_equal_one_at_a_time(tiny_gpt2, index):
    import torch

    from bibleft.generate import answer_questions, greedy_continuations, shared_prefix_length
    from bibleft.modeling import load_causal_lm, load_tokenizer

    torch.manual_seed(0)
    model = load_causal_lm(tiny_gpt2).eval()
    tokenizer = load_tokenizer(tiny_gpt2, padding_side="left")
    questions = [{**q, "answer": "x"} for q in QUESTIONS]
    passages = retrieved(index)
    records, timing = answer_questions(model, tokenizer, questions, OPEN_BOOK_PROMPT, 6,
                                       batch_size=3, passages=passages)
    prompts = [r["prompt"] for r in records]
    assert prompts == question_prompts(tokenizer, OPEN_BOOK_PROMPT, [q["question"] for q in questions],
                                       contexts=[retrieval.context(p) for p in passages])
    assert shared_prefix_length(tokenizer(prompts)["input_ids"]) > 50
    assert [r["response"] for r in records] == greedy_continuations(
        model, tokenizer, prompts, 6, batch_size=1, progress=False, prefix_cache=False)
    assert [r["passages"] for r in records][:2] == [["Genesis 2:8", "Ruth 4:17"], ["Ruth 4:17", "Ruth 4:22"]]
    assert timing["open_book"] is True
    # Passages of another question set are refused, naming the way out.
    with pytest.raises(InputError, match="rerun rule retrieve_passages"):
        answer_questions(model, tokenizer, questions, OPEN_BOOK_PROMPT, 6, 3, passages=passages[::-1])
    # A prompt the model cannot read whole is one line naming open_book.k.
    long = [{**p, "passages": p["passages"] * 200} for p in passages]
    with pytest.raises(InputError, match=r"the model reads at most 512: lower open_book\.k"):
        answer_questions(model, tokenizer, questions, OPEN_BOOK_PROMPT, 6, 3, passages=long)


# --- judging both modes ----------------------------------------------------------------------

ANSWERS = ["Eden", "Obed", "Salome", "Moses", "Cain"]
RESPONSES = {"base": [" Eden", " no", " no", " no", " Cain"],
             "full": [" no", " no", " no", " no", " Cain"],
             "lora": [" no", " no", " no", " Moses", " no"],
             "base_open": [" Eden", " Obed", " no", " no", " no"],
             "full_open": [" Eden", " Obed", " no", " no", " Cain"],
             "lora_open": [" no", " Obed", " no", " no", " no"]}


def predictions(names) -> dict[str, list[dict]]:
    return {name: [{"id": q["id"], "position": q["position"], "question": q["question"],
                    "answer": answer, "response": response, "correct": answer in response,
                    "new_tokens": 3, "stopped": False}
                   for q, answer, response in zip(QUESTIONS, ANSWERS, RESPONSES[name])]
            for name in names}


def test_closed_book_tables_are_what_they_were_and_open_book_adds_rows_after_them():
    closed = judge_predictions(predictions(["base", "full", "lora"]))
    both = judge_predictions(predictions(list(RESPONSES)))
    closed_scores, both_scores = score_rows(closed), score_rows(both)
    for metric in ("lenient", "token_f1"):
        mine = [r for r in both_scores if r["metric"] == metric]
        assert mine[:4] == [r for r in closed_scores if r["metric"] == metric]
        assert [r["variant"] for r in mine[4:]] == ["base_open", "full_open", "lora_open", "union_open"]
        assert [r["correct"] for r in mine[4:]] == [2, 3, 1, 3]
    closed_tests = significance_rows(closed)
    both_tests = [r for r in significance_rows(both) if r["metric"] == "lenient"]
    assert both_tests[:4] == [r for r in closed_tests if r["metric"] == "lenient"]
    pairs = [(r["a"], r["b"]) for r in both_tests[4:]]
    assert pairs == [("base_open", "full_open"), ("base_open", "lora_open"), ("full_open", "lora_open"),
                     ("", ""), ("base", "base_open"), ("full", "full_open"), ("lora", "lora_open"),
                     ("base_open", "full"), ("base_open", "lora")]
    full_vs_open = both_tests[4 + pairs.index(("full", "full_open"))]
    assert (full_vs_open["a_only"], full_vs_open["b_only"]) == (0, 2)


def test_accuracy_by_retrieval_outcome_splits_reading_and_retrieval_misses(index):
    judged = judge_predictions(predictions(list(RESPONSES)))
    rows = retrieval.accuracy_by_outcome_rows(judged, retrieved(index, k=1))
    lenient = {(r["variant"], r["outcome"]): (r["questions"], r["correct"])
               for r in rows if r["metric"] == "lenient"}
    # k=1: question 2's gold passage retrieved, question 36's in the book and missed.
    assert lenient[("base_open", "retrieved")] == (1, 1)
    assert lenient[("base_open", "missed")] == (1, 1)
    assert lenient[("full", "all")] == (5, 1)
    assert {o for _, o in lenient} == {"all", "retrieved", "missed", "not_in_book", "unmapped",
                                      "no_reference"}
    with pytest.raises(InputError, match="rerun rule retrieve_passages"):
        retrieval.accuracy_by_outcome_rows(judged, retrieved(index)[1:])


def test_tables_across_seeds_put_open_books_rows_after_closed_books():
    fine_tunes = [FineTune("m", "paper", seed, method) for seed in (1, 2) for method in ("full", "lora")]
    closed = predictions(["base", "full", "lora"])
    opened = predictions(["base_open", "full_open", "lora_open"])
    closed_panel = Panel("paper", "closed", closed["base"], {ft: closed[ft.method] for ft in fine_tunes})
    open_panel = Panel("paper", "open", opened["base_open"],
                       {ft: opened[f"{ft.method}_open"] for ft in fine_tunes})
    both = [closed_panel, open_panel]
    accuracy = panels.accuracy_rows(both)
    assert accuracy[:4] == panels.accuracy_rows([closed_panel])
    assert [(r["variant"], r["correct"], r["total"]) for r in accuracy[4:]] == [
        ("base_open", 2, 5), ("full_open", 6, 10), ("lora_open", 2, 10), ("union_open", 6, 10)]
    tests = panels.significance_rows(both)
    cross = [r for r in tests if r["metric"] == "lenient" and (r["a"], r["b"]) == ("full", "full_open")]
    assert [(r["seed"], r["test"], r["a_only"], r["b_only"]) for r in cross] == [
        (1, "mcnemar_exact", 0, 2), (2, "mcnemar_exact", 0, 2), ("all", "sign_test_pooled", 0, 2)]
    stability = panels.stability_rows(both)
    assert list(stability[0]) == panels.stability_columns(both)
    assert [(r["id"], r["base_open"], r["full_open_right"]) for r in stability[:2]] == [(2, 1, 2), (36, 1, 2)]
    venn = panels.venn_sets([open_panel])
    assert venn["paper"]["sets"] == {"base": [2, 36], "full": [2, 9, 36], "lora": [36]}


# --- bad input: one line before any job ------------------------------------------------------

def config_with(corpora: dict | None = None, train_on: str = "asv", **open_book) -> dict:
    """config.yaml with open book on (`open_book`'s keys), fine-tuning on `train_on` (an
    entry of `corpora`, laid over config.yaml's)."""
    import yaml

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["open_book"] = {"enabled": True, **open_book}
    config["corpora"] = {**config["corpora"], **(corpora or {})}
    config["data"]["corpus"] = train_on
    return config


@pytest.mark.parametrize("open_book, expected", [
    ({"k": 0}, r"^config error: open_book\.k: 0 is less than the minimum of 1$"),
    ({"corpus": "psalter"}, r"^config error: open_book\.corpus: 'psalter' is not in corpora \(known: asv, bbe, kjv\)$"),
    ({"prompt": "Q: {question}\nA:"}, r"^config error: open_book\.prompt: the template must hold \{context\}"),
])
def test_open_book_config_errors_name_the_key(open_book, expected):
    with pytest.raises(InputError) as err:
        load_config(config_with(**open_book))
    assert re.search(expected, str(err.value)), str(err.value)


def test_k_above_the_books_size_is_refused_before_any_job(tmp_path):
    from bibleft import preflight

    def check(k, corpus="asv", **entry):
        preflight.check_experiment(load_config(config_with({corpus: entry}, corpus, k=k)))

    check(85, kind="bible", books=["Ruth"])  # Ruth has 85 verses
    with pytest.raises(InputError, match=r"^config error: open_book\.k: 86 passages per question, "
                                         r"but the book asv \(corpora\.asv\) holds 85 verses"):
        check(86, kind="bible", books=["Ruth"])
    with pytest.raises(InputError, match=r"holds 400 verses"):
        check(401, kind="bible", books=["Genesis"], max_verses=400)
    notes = tmp_path / "notes.txt"
    notes.write_text("one\n\ntwo\nthree\n")
    with pytest.raises(InputError, match=r"holds 3 lines"):
        check(4, "notes", kind="text", path=str(notes))
    check(10, "facts", kind="facts", count=5, paraphrases=2)  # 10 biographies
    with pytest.raises(InputError, match=r"but the book facts \(corpora\.facts\) holds 10 biographies"):
        check(11, "facts", kind="facts", count=5, paraphrases=2)


def test_a_reference_column_must_name_examples_of_the_book(tmp_path):
    from bibleft.corpora import BibleCorpus, TextCorpus
    from bibleft.questions import TableQuestions

    notes = tmp_path / "notes.txt"
    notes.write_text("The harbour holds nine ships.\nIts lighthouse is green.\n")
    book = TextCorpus(kind="text", path=str(notes))
    table = tmp_path / "quiz.jsonl"

    def check(reference: str, corpus, name: str, column: str = "ref") -> None:
        table.write_text('{"question": "How many ships?", "answer": "nine", "ref": "%s"}\n' % reference)
        quiz = TableQuestions(kind="table", path=str(table), reference=column)
        corpus.check_references("questions.quiz.reference", column,
                                quiz.references("questions.quiz"), name)

    check("notes.txt:1", book, "notes")
    with pytest.raises(InputError, match=r"^config error: questions\.quiz\.reference: no value of column "
                                         r"'ref' names an example of the book notes \(its references read "
                                         r"like 'notes.txt:1'; first value: 'line 1'\)$"):
        check("line 1", book, "notes")
    with pytest.raises(InputError, match=r"^config error: questions\.quiz\.reference: .*no line has the key 'page'"):
        check("notes.txt:1", book, "notes", "page")
    asv = BibleCorpus(kind="bible")
    with pytest.raises(InputError, match=r"no value of column 'ref' reads as a verse"):
        check("notes.txt:1", asv, "asv")
    check("Ru 4:22", asv, "asv")

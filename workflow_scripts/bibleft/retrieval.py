"""Open book: the passages of a corpus ("the book") that best match each question, by BM25.

The ranking is bm25s's (Lucene's BM25, k1 1.5, b 0.75) over words lower-cased, stripped of
English stop words and stemmed by PyStemmer's English (Snowball) stemmer; our part is which
texts are passages, ties and empty matches, and where a question's gold passage is.

- A passage is one example of the book's training slice, the examples a fine-tune on that
  corpus reads (corpus.training_examples): a Bible's verses with words, a text's lines or
  paragraphs, a dataset's rows. A verse is indexed with its reference, as the study's
  training examples write it (questions name books: "In Proverbs ...", "According to James
  ..."; on BibleQA over the whole ASV, recall@1 22.0% against 19.9% for the words alone,
  docs/results.md); other passages by their words alone (a file name and line number are
  no words of the text).
- A question's passages are the k with the highest scores above 0, ties in corpus order, so
  the same index and questions always give the same passages; a question whose words match
  no passage gets none.
- The gold passage is the example its reference names (BibleQA's `Gen 17:15`, a table's
  reference column), read by references.verse_references for a Bible: `in_book`,
  `not_in_book` (a verse outside the slice), `unmapped` (a reference that names no verse)
  or `no_reference`.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .fileio import atomic_dir, read_jsonl, write_json, write_jsonl

STOPWORDS = "en"
STEMMER = "english"
PASSAGES_FILE = "passages.jsonl"  # in the index folder: the book's passages, in corpus order
SETTINGS_FILE = "retrieval.json"  # in the index folder: what made it

# Where a question's gold passage is (the `gold_status` of a passages record).
IN_BOOK, NOT_IN_BOOK, UNMAPPED, NO_REFERENCE = "in_book", "not_in_book", "unmapped", "no_reference"


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(STEMMER)


def _words(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


def book_passages(examples: list) -> list[dict]:
    """The passages of a book: `{reference, text}` of each training example (asv.Verse or
    corpus.Example) that has words, in corpus order (the ASV's 16 omitted verses have none)."""
    return [{"reference": e.reference, "text": e.text} for e in examples if e.text.strip()]


def indexed_text(passage: dict, with_reference: bool) -> str:
    """What the index reads of a passage: its words, after its reference for a verse."""
    return f"{passage['reference']} {passage['text']}" if with_reference else passage["text"]


def build_index(passages: list[dict], folder, with_reference: bool = False) -> dict:
    """bm25s's index of `passages` (indexed_text), saved in `folder` (numpy arrays and
    JSON, no pickle) with the passages themselves and the settings that made it (returned)."""
    import bm25s

    if not passages:
        raise InputError("the book has no passage with words to index")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([indexed_text(p, with_reference) for p in passages],
                                   stopwords=STOPWORDS, stemmer=_stemmer(), show_progress=False),
                    show_progress=False)
    settings = {"library": "bm25s", "version": bm25s.__version__, "method": retriever.method,
                "k1": retriever.k1, "b": retriever.b, "stopwords": STOPWORDS,
                "stemmer": f"PyStemmer {STEMMER}", "passages": len(passages),
                "indexed": "reference and words" if with_reference else "words"}
    with atomic_dir(folder) as tmp:
        retriever.save(str(tmp), show_progress=False)
        write_jsonl(Path(tmp) / PASSAGES_FILE, passages)
        write_json(Path(tmp) / SETTINGS_FILE, settings)
    return settings


def load_index(folder):
    """(bm25s retriever, passages) of an index build_index saved."""
    import bm25s

    folder = Path(folder)
    if not (folder / SETTINGS_FILE).is_file():
        raise InputError(f"{folder}: no retrieval index here (rerun rule retrieval_index)")
    return (bm25s.BM25.load(str(folder), show_progress=False),
            read_jsonl(folder / PASSAGES_FILE))


def top_passages(retriever, questions: list[str], k: int) -> list[list[tuple[int, float]]]:
    """For each question, up to `k` (passage index, score): the highest BM25 scores above 0,
    highest first, equal scores in corpus order."""
    import numpy as np

    vocabulary = retriever.vocab_dict
    out = []
    for words in _words(questions):
        known = [w for w in words if w in vocabulary]
        if not known:
            out.append([])
            continue
        scores = retriever.get_scores(known)
        order = np.argsort(-scores, kind="stable")[:k]
        out.append([(int(i), float(scores[i])) for i in order if scores[i] > 0])
    return out


def gold_passages(question: dict, index_of: dict[str, list[int]],
                  bible: bool) -> tuple[str, list[int]]:
    """(gold_status, passage indices) of a question record: where its `reference` names a
    passage of the book (`index_of`: reference -> indices). A Bible's references are read as
    verses (`Ru 4:2` is Ruth 4:2); other corpora's are matched as written."""
    from .references import verse_references

    reference = str(question.get("reference") or "").strip()
    if not reference:
        return NO_REFERENCE, []
    names = verse_references(reference) if bible else [reference]
    if not names:
        return UNMAPPED, []
    found = [i for name in names for i in index_of.get(name, [])]
    return (IN_BOOK, found) if found else (NOT_IN_BOOK, [])


def retrieve(retriever, passages: list[dict], questions: list[dict], k: int,
             bible: bool) -> list[dict]:
    """One record per question: `{id, position, question, reference, gold_status, gold,
    gold_rank, passages: [{rank, passage, reference, score, text}]}`; `gold` lists the gold
    passages' indices, `gold_rank` is the rank of the first retrieved one (null: none)."""
    if k > len(passages):
        raise InputError(f"open_book.k: {k} passages per question, but the book has only "
                         f"{len(passages)}; lower open_book.k")
    # A reference may name several passages (a facts corpus's phrasings of one person):
    # any of them is gold.
    index_of: dict[str, list[int]] = {}
    for i, passage in enumerate(passages):
        index_of.setdefault(passage["reference"], []).append(i)
    records = []
    for question, ranked in zip(questions, top_passages(retriever, [q["question"] for q in questions], k)):
        status, gold = gold_passages(question, index_of, bible)
        hits = [{"rank": rank, "passage": i, "reference": passages[i]["reference"],
                 "score": round(score, 4), "text": passages[i]["text"]}
                for rank, (i, score) in enumerate(ranked, 1)]
        gold_rank = next((h["rank"] for h in hits if h["passage"] in gold), None)
        records.append({"id": question["id"], "position": question["position"],
                        "question": question["question"], "reference": question.get("reference"),
                        "gold_status": status, "gold": gold, "gold_rank": gold_rank,
                        "passages": hits})
    return records


def context(record: dict) -> str:
    """The passages of a question as the prompt's `{context}`: one per line, each as the
    study's training examples write a verse, its reference, a tab and its words."""
    return "\n".join(f"{p['reference']}\t{p['text']}" for p in record["passages"])


# --- how often the gold passage was found: recall.csv --------------------------------------

RECALL_COLUMNS = ["at", "questions", "with_reference", "unmapped", "gold_in_book", "retrieved",
                  "recall_pct", "recall_in_book_pct", "note"]


def recall_rows(records: list[dict], k: int) -> list[dict]:
    """recall.csv: for each cut-off 1..k, how many questions had their gold passage among
    their first `at` passages: over the questions whose reference names a verse or example
    (`recall_pct`; one outside the book is a miss no retriever could avoid) and over those
    whose gold passage is in the book (`recall_in_book_pct`). The counts say how many
    references were unmapped; none is dropped. A question set without references gets
    rows that say so, with no recall."""
    from .tableio import pct

    n = len(records)
    status = [r["gold_status"] for r in records]
    with_reference = n - status.count(NO_REFERENCE)
    unmapped, in_book = status.count(UNMAPPED), status.count(IN_BOOK)
    mapped = with_reference - unmapped
    note = "" if with_reference else "the question set has no references: recall cannot be measured"
    if with_reference and unmapped:
        note = f"{unmapped} reference(s) name no verse or example: counted, not in recall_pct"
    rows = []
    for at in range(1, k + 1):
        hit = sum(1 for r in records if r["gold_rank"] is not None and r["gold_rank"] <= at)
        rows.append({"at": at, "questions": n, "with_reference": with_reference,
                     "unmapped": unmapped, "gold_in_book": in_book, "retrieved": hit,
                     "recall_pct": pct(hit / mapped) if mapped else "",
                     "recall_in_book_pct": pct(hit / in_book) if in_book else "", "note": note})
    return rows


def retrieval_outcome(record: dict) -> str:
    """Where a question stands after retrieval: `retrieved` (its gold passage is among its
    passages), `missed` (in the book, not retrieved: a retrieval miss), or its gold status
    (not_in_book, unmapped, no_reference)."""
    if record["gold_status"] != IN_BOOK:
        return record["gold_status"]
    return "retrieved" if record["gold_rank"] is not None else "missed"


OUTCOMES = ("retrieved", "missed", NOT_IN_BOOK, UNMAPPED, NO_REFERENCE)


def read_passages(path) -> list[dict]:
    """A passages file (rule retrieve_passages), checked for the fields the tables read."""
    records = read_jsonl(path)
    for n, record in enumerate(records, 1):
        missing = [key for key in ("id", "gold_status", "gold_rank", "passages") if key not in record]
        if missing:
            raise InputError(f"{path}: record {n} has no {', '.join(missing)} "
                             "(rerun rule retrieve_passages)")
    return records


# --- accuracy by where the gold passage was: a run's retrieval.csv -------------------------

ACCURACY_COLUMNS = ["metric", "variant", "outcome", "questions", "correct", "accuracy_pct"]
ALL = "all"


def accuracy_by_outcome_rows(judged: dict, records: list[dict]) -> list[dict]:
    """retrieval.csv of one run: per metric and variant (closed and open book), accuracy
    over all questions and over those of each retrieval outcome (retrieval_outcome) that
    has any: an open-book answer that is wrong though its gold passage was `retrieved` is a
    reading miss; one wrong after `missed` a retrieval miss. The closed-book rows show how
    hard those same questions are without the passages. `judged` is
    judging.judge_predictions' over the run's variants, `records` the passages file."""
    from .tableio import pct

    outcome_of = {r["id"]: retrieval_outcome(r) for r in records}
    missing = [qid for qid in judged["ids"] if qid not in outcome_of]
    if missing:
        raise InputError(f"question id {missing[0]!r} has no passages (the passages were "
                         "retrieved for another question set: rerun rule retrieve_passages)")
    outcomes = [outcome_of[qid] for qid in judged["ids"]]
    groups = [ALL, *(o for o in OUTCOMES if o in outcomes)]
    rows = []
    for metric, by_variant in judged["verdicts"].items():
        for variant, verdicts in by_variant.items():
            for group in groups:
                picked = [v for v, o in zip(verdicts, outcomes) if group in (ALL, o)]
                correct = sum(picked)
                rows.append({"metric": metric, "variant": variant, "outcome": group,
                             "questions": len(picked), "correct": correct,
                             "accuracy_pct": pct(correct / len(picked))})
    return rows

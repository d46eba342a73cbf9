"""data/retrieval/<corpus>/<questions>/passages.jsonl (`passages`): each question's top
open_book.k passages of the book data/retrieval/<corpus>/index/ (`index`), with their
references and BM25 scores, and where the question's gold passage (its reference) stands;
and recall.csv (`recall`) beside it: how often the gold passage was among the first
1..k. Reads data/questions/<questions>.jsonl (`questions`).
params.options: {k, bible: whether the book is a Bible (its references read as verses)}."""
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_jsonl, write_text
from bibleft.retrieval import RECALL_COLUMNS, load_index, recall_rows, retrieve
from bibleft.tableio import rows_to_csv


def main(smk):
    options = smk.params.options
    retriever, passages = load_index(smk.input.index)
    records = retrieve(retriever, passages, read_jsonl(smk.input.questions), options["k"],
                       options["bible"])
    write_jsonl(smk.output.passages, records)
    recall = rows_to_csv(recall_rows(records, options["k"]), RECALL_COLUMNS)
    write_text(smk.output.recall, recall)
    print(recall)


run_step(snakemake, main)  # noqa: F821

"""data/tokenized/<tokenizer>/qa/<questions>/<mode>/: the trained part of a question set's
split (`split`: data/questions/<questions>.split.json) as question-answer examples for a
recipe (bibleft.recipes): each question in the mode's prompt as the answering asks it,
then its answer, the prompt out of the loss (`n_context`). Open book's (`passages`:
data/retrieval/<book>/<questions>/passages.jsonl) with the question's passages (RAFT).
Reads data/questions/<questions>.jsonl (`questions`) and the tokenizer of `model`."""
from bibleft.corpus import save_dataset
from bibleft.entry import run_step
from bibleft.fileio import read_json, read_jsonl
from bibleft.modeling import load_tokenizer
from bibleft.questions import TRAINED
from bibleft.recipes import qa_columns
from bibleft.retrieval import read_passages


def main(smk):
    options = smk.params.options
    records = read_jsonl(smk.input.questions)
    passages = read_passages(smk.input.passages) if "passages" in smk.input.keys() else None
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=options["trust_remote_code"])
    columns = qa_columns(tokenizer, records, read_json(smk.input.split)["ids"][TRAINED],
                         options["prompt"], options["chat_template"], options["model"], passages)
    save_dataset(columns, smk.output[0], num_shards=1)
    n = len(columns["input_ids"])
    print(f"{n} question-answer examples of the trained part, {sum(columns['n_tokens'])} tokens "
          f"({sum(columns['n_tokens']) - sum(columns['n_context'])} of them answers, in the loss) "
          f"-> {smk.output[0]}")


run_step(snakemake, main)  # noqa: F821

"""One answer set (grid.AnswerSet): results/<model>/<run>/<questions>/<mode>/generations/
<variant>.jsonl (`answers`; .timing.json beside it, `timing`), <run> being base or
<setting>/seed<seed>: the model's answers to data/questions/<questions>.jsonl
(`questions`), each with the prompt it was asked with (params.options.answer.prompt: the
mode's template). A mode that reads passages (open book, input `passages`:
data/retrieval/<book>/<questions>/passages.jsonl) puts each question's in its prompt."""
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_json, write_jsonl
from bibleft.generate import answer_questions, load_for_answering
from bibleft.hub import model_provenance
from bibleft.config import AnswerOptions
from bibleft.retrieval import read_passages


def main(smk):
    # First, before anything touches CUDA: the claim decides which GPU "cuda" is.
    # Generation runs in one process on one device, so it never claims more than one.
    gpus = claim_gpus(min(1, int(getattr(smk.resources, "gpu", 0) or 0)))
    options = AnswerOptions.from_dict(smk.params.options["answer"])
    questions = read_jsonl(smk.input.questions)
    if options.limit:
        questions = questions[: options.limit]
    passages = read_passages(smk.input.passages) if "passages" in smk.input.keys() else None
    # answer.tf32: false = IEEE float32, what float32 says
    tokenizer, model = load_for_answering(smk.input.model, smk.input.get("adapter"), options.dtype,
                                        options.tf32, smk.params.options["trust_remote_code"],
                                        padding_side="left")
    # answer.chat_template: true asks with the tokenizer's chat template (an error where it
    # has none); each record keeps the prompt it was asked with.
    records, timing = answer_questions(model, tokenizer, questions, options.prompt,
                                       options.max_new_tokens, options.batch_size,
                                       prefix_cache=options.prefix_cache,
                                       chat_template=options.chat_template,
                                       model_name=smk.wildcards.model, passages=passages)
    write_jsonl(smk.output.answers, records)
    # The exact weights answered with: the base model's provenance (Hub commit, GGUF file).
    write_json(smk.output.timing, {**timing, "gpus": gpus,
                                   "base_model": model_provenance(smk.input.model)})
    print(f"{len(records)} answers in {timing['seconds_total']:.1f} s "
          f"({timing['seconds_per_answer']:.3f} s/answer) on {timing['device_name']}")


run_step(snakemake, main)  # noqa: F821

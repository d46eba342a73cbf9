"""results/<model>/<run>/generations/<variant>.jsonl: each model's answers to the questions,
each with the prompt it was asked with."""
from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_json, write_jsonl
from bibleft.generate import answer_questions, load_for_scoring
from bibleft.hub import model_provenance


def main(smk):
    # First, before anything touches CUDA: the claim decides which GPU "cuda" is.
    # Generation runs in one process on one device, so it never claims more than one.
    gpus = claim_gpus(min(1, int(getattr(smk.resources, "gpu", 0) or 0)))
    params, settings = smk.params, smk.params.settings
    questions = read_jsonl(smk.input.questions)
    if settings["limit"]:
        questions = questions[: settings["limit"]]
    # eval.tf32: false = IEEE float32, what float32 says
    tokenizer, model = load_for_scoring(smk.input.model, smk.input.get("adapter"), settings["dtype"],
                                        settings["tf32"], params.trust_remote_code, padding_side="left")
    # eval.chat_template: true asks with the tokenizer's chat template (an error where it
    # has none); each record keeps the prompt it was asked with.
    records, timing = answer_questions(model, tokenizer, questions, settings["prompt"],
                                       settings["max_new_tokens"], settings["batch_size"],
                                       prefix_cache=settings["prefix_cache"],
                                       chat_template=settings["chat_template"],
                                       model_name=smk.wildcards.model)
    write_jsonl(smk.output.answers, records)
    # The exact weights answered with: the base model's provenance (Hub commit, GGUF file).
    write_json(smk.output.timing, {**timing, "gpus": gpus,
                                   "base_model": model_provenance(smk.input.model)})
    print(f"{len(records)} answers in {timing['seconds_total']:.1f} s "
          f"({timing['seconds_per_answer']:.3f} s/answer) on {timing['device_name']}")


run_step(snakemake, main)  # noqa: F821

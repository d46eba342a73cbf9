"""results/<model>/generations/<variant>.jsonl: each model's answers to the questions."""
import torch

from bibleft.devices import claim_gpus
from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_json, write_jsonl
from bibleft.generate import answer_questions, load_for_generation
from bibleft.hub import model_provenance
from bibleft.modeling import load_tokenizer, pick_device
from bibleft.precision import configure_matmul


def main(smk):
    # First, before anything touches CUDA: the claim decides which GPU "cuda" is.
    # Generation runs in one process on one device, so it never claims more than one.
    gpus = claim_gpus(min(1, int(getattr(smk.resources, "gpu", 0) or 0)))
    params = smk.params
    questions = read_jsonl(smk.input.questions)
    if params.limit:
        questions = questions[: params.limit]
    device = pick_device()
    configure_matmul(device, params.tf32)  # eval.tf32: false = IEEE float32, what float32 says
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=params.trust_remote_code,
                               padding_side="left")
    model = load_for_generation(smk.input.model, smk.input.get("adapter"),
                                dtype=getattr(torch, params.dtype),
                                trust_remote_code=params.trust_remote_code, device=device)
    records, timing = answer_questions(model, tokenizer, questions, params.prompt,
                                       params.max_new_tokens, params.batch_size,
                                       prefix_cache=params.prefix_cache)
    write_jsonl(smk.output.answers, records)
    # The exact weights answered with: the base model's provenance (Hub commit, GGUF file).
    write_json(smk.output.timing, {**timing, "gpus": gpus,
                                   "base_model": model_provenance(smk.input.model)})
    print(f"{len(records)} answers in {timing['seconds_total']:.1f} s "
          f"({timing['seconds_per_answer']:.3f} s/answer) on {timing['device_name']}")


run_step(snakemake, main)  # noqa: F821

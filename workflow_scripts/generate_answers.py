"""results/<model>/generations/<variant>.jsonl: each model's answers to the questions."""
import torch

from bibleft.entry import run_step
from bibleft.fileio import read_jsonl, write_json, write_jsonl
from bibleft.generate import answer_questions, load_for_generation
from bibleft.modeling import load_tokenizer, pick_device


def main(smk):
    params = smk.params
    questions = read_jsonl(smk.input.questions)
    if params.limit:
        questions = questions[: params.limit]
    device = pick_device()
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    tokenizer = load_tokenizer(smk.input.model, trust_remote_code=params.trust_remote_code,
                               padding_side="left")
    model = load_for_generation(smk.input.model, smk.input.get("adapter"),
                                dtype=getattr(torch, params.dtype),
                                trust_remote_code=params.trust_remote_code, device=device)
    records, timing = answer_questions(model, tokenizer, questions, params.prompt,
                                       params.max_new_tokens, params.batch_size)
    write_jsonl(smk.output.answers, records)
    write_json(smk.output.timing, timing)
    print(f"{len(records)} answers in {timing['seconds_total']:.1f} s "
          f"({timing['seconds_per_answer']:.3f} s/answer) on {timing['device_name']}")


run_step(snakemake, main)  # noqa: F821

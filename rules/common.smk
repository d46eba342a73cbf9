# The one place that reads `config`: validation first, then wildcard constraints and
# the small functions the rules use for inputs, params and resources.
import os
import re
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))
from bibleft.configcheck import load_schema, validate_config  # noqa: E402
from bibleft.errors import InputError  # noqa: E402
from bibleft.gguf import is_gguf_source  # noqa: E402
from bibleft.hub import check_hub_id, check_revision  # noqa: E402
from bibleft.modeling import check_model_dir  # noqa: E402

try:
    validate_config(config, load_schema(os.path.join(workflow.basedir, "schemas", "config.schema.yaml")))
except InputError as err:
    sys.exit(str(err))  # one line, no traceback: the message names the key

RUN_MODELS = config["run"]["models"]
VARIANTS = ["base", "full", "lora"]
METHODS = ["full", "lora"]


wildcard_constraints:
    model="|".join(re.escape(m) for m in config["models"]),
    tokenizer="|".join(sorted({re.escape(m["tokenizer"]) for m in config["models"].values()})),
    variant="|".join(VARIANTS),
    method="|".join(METHODS),


def model_entry(model):
    return config["models"][model]


def is_hub_id(source):
    # A Hub id is "name" or "org/name"; a GGUF source, or anything that exists locally or
    # looks like a path (absolute, ./, ../, ~), is not.
    return not (is_gguf_source(source) or os.path.exists(source) or os.path.isabs(source)
                or source.startswith((".", "~")))


def is_local_dir(source):
    return not (is_hub_id(source) or is_gguf_source(source))


def model_dir(model):
    """The directory holding the base model: the local source itself, or models/<slug>/
    filled once by rule prepare_model (Hub download or GGUF conversion)."""
    source = model_entry(model)["source"]
    return os.path.expanduser(source) if is_local_dir(source) else f"models/{model}"


# A local model directory that is missing, has no weights or only pickle weights, a
# malformed Hub id or revision fails here, before any job is scheduled.
for _model in RUN_MODELS:
    _source = model_entry(_model)["source"]
    try:
        if is_local_dir(_source):
            check_model_dir(model_dir(_model))
        elif is_hub_id(_source):
            check_hub_id(_source)
    except InputError as err:
        sys.exit(f"config error: models.{_model}.source: {err}")
    try:
        check_revision(model_entry(_model)["revision"])
    except InputError as err:
        sys.exit(f"config error: models.{_model}.revision: {err}")


def gguf_file_input(wildcards):
    """A .gguf path source is an input, so replacing the file rebuilds the model."""
    source = model_entry(wildcards.model)["source"]
    return [os.path.expanduser(source)] if source.endswith(".gguf") else []


def tokenizer_key(model):
    return model_entry(model)["tokenizer"]


def tokenizer_source_model(tokenizer):
    """The model whose tokenizer files make data/tokenized/<tokenizer>/ (run models first)."""
    for model in RUN_MODELS + list(config["models"]):
        if tokenizer_key(model) == tokenizer:
            return model


def train_settings(method):
    """The train settings one fine-tuning job sees: `compile` resolved to its method's mode,
    so a per-method change reruns only that method's job."""
    settings = dict(config["train"])
    if isinstance(settings["compile"], dict):
        settings["compile"] = settings["compile"].get(method, False)
    if not settings["compile"]:
        # An eager job has no compile scope: changing it must not rerun (or stale) that job.
        settings.pop("compile_scope", None)
    return settings


def final_outputs():
    outputs = []
    for model in RUN_MODELS:
        outputs += [
            f"results/{model}/accuracy.csv",
            f"results/{model}/accuracy.md",
            f"results/{model}/venn.png",
            f"results/{model}/loss.png",
            f"results/{model}/timing.csv",
            f"results/{model}/scores.csv",
            f"results/{model}/significance.csv",
            f"results/{model}/audit.csv",
            f"results/{model}/accuracy_bars.png",
        ]
    if len(RUN_MODELS) > 1:
        outputs += ["results/summary.csv", "results/summary.png"]
    return outputs


def bibleqa_local_file(wildcards):
    path = config["data"]["bibleqa"]["path"]
    return [os.path.expanduser(path)] if path else []


def generation_inputs(wildcards):
    """Base and LoRA answer with the base model (LoRA merged in); full with its checkpoint."""
    inputs = {"questions": rules.bibleqa_records.output[0]}
    if wildcards.variant == "full":
        inputs["model"] = f"checkpoints/{wildcards.model}/full"
    else:
        inputs["model"] = model_dir(wildcards.model)
    if wildcards.variant == "lora":
        inputs["adapter"] = f"checkpoints/{wildcards.model}/lora"
    return inputs


def predictions(wildcards):
    return {v: f"results/{wildcards.model}/predictions/{v}.jsonl" for v in VARIANTS}


# --- resources: sized from the model, grown with each retry ------------------------------

def model_gpus():
    return config["resources"]["gpu"]


def model_threads():
    return config["resources"]["cpus_per_gpu"] * max(1, model_gpus())


def generate_gpus():
    # Generation runs in one process on one device: more GPUs would sit idle.
    return min(1, model_gpus())


def generate_threads():
    return config["resources"]["cpus_per_gpu"]


def _size(model):
    return model_entry(model)["params_millions"]


def train_mem_mb(wildcards, attempt):
    # Host memory: the fp32 weights loaded once plus the optimizer's copy on the way to
    # the GPU, and headroom for data loading.
    return int((4000 + 12 * _size(wildcards.model)) * attempt)


def train_runtime_min(wildcards, attempt):
    # About 20 min per epoch per billion parameters on one A100 with dynamic padding,
    # doubled for safety; at least 30 min.
    epochs = config["train"]["epochs"]
    return int(max(30, 40 * epochs * _size(wildcards.model) / 1000) * attempt)


def generate_mem_mb(wildcards, attempt):
    return int((4000 + 8 * _size(wildcards.model)) * attempt)


def generate_runtime_min(wildcards, attempt):
    return int(max(20, 20 * _size(wildcards.model) / 1000) * attempt)

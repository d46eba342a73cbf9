# Validation, wildcard constraints, the final targets and the input functions.
# config is validated here, once, before anything else reads it; each rule then reads its
# own settings in `params:` (and the functions below read the model entries). How a model
# source is classified and how large a job's resources are live in the package
# (bibleft.sources, bibleft.sizing), where unit tests check them.
import os
import re
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))
from bibleft import sizing, sources  # noqa: E402
from bibleft.configcheck import SCHEMA_PATH, load_schema, validate_config  # noqa: E402
from bibleft.errors import InputError  # noqa: E402

try:
    validate_config(config, load_schema(SCHEMA_PATH))
except InputError as err:
    sys.exit(str(err))  # one line, no traceback: the message names the key

RUN_MODELS = config["run"]["models"]
# The three models the study compares, and the two fine-tuning methods among them: the
# rules and the scripts they run (through params) take them from here.
METHODS = ["full", "lora"]
VARIANTS = ["base", *METHODS]
# Where rule prepare_model puts a base model that is not a local directory.
PREPARED_MODEL = "models/{model}"


wildcard_constraints:
    model="|".join(re.escape(m) for m in config["models"]),
    tokenizer="|".join(sorted({re.escape(m["tokenizer"]) for m in config["models"].values()})),
    variant="|".join(VARIANTS),
    method="|".join(METHODS),


def model_entry(model):
    return config["models"][model]


def model_dir(model):
    """The directory holding the base model: the local source itself, or models/<slug>/."""
    return sources.model_dir(model_entry(model)["source"], PREPARED_MODEL.format(model=model))


# A local model directory that is missing, has no weights or only pickle weights, a
# malformed Hub id or revision fails here, before any job is scheduled.
for _model in RUN_MODELS:
    try:
        sources.check_model_entry(_model, model_entry(_model), PREPARED_MODEL.format(model=_model))
    except InputError as err:
        sys.exit(str(err))


def gguf_file_input(wildcards):
    """A .gguf path source is an input, so replacing the file rebuilds the model."""
    path = sources.gguf_file(model_entry(wildcards.model)["source"])
    return [path] if path else []


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
    """What `snakemake` builds by default; called in the Snakefile, after every rule."""
    per_model = [rules.accuracy_table.output, rules.venn_diagram.output, rules.loss_curves.output,
                 rules.timing_table.output, rules.judge_predictions.output, rules.accuracy_bars.output]
    if config["probes"]["enabled"]:
        per_model.append(rules.probe_table.output)
    outputs = [path for paths in per_model for path in expand(paths, model=RUN_MODELS)]
    if len(RUN_MODELS) > 1:
        outputs += rules.judge_summary.output
    return outputs


def bibleqa_local_file(wildcards):
    path = config["data"]["bibleqa"]["path"]
    return [os.path.expanduser(path)] if path else []


def checkpoint(model, method):
    return expand(rules.finetune.output[0], model=model, method=method)[0]


def variant_model(wildcards):
    """Base and LoRA run the base model (LoRA merged in); full its checkpoint."""
    if wildcards.variant == "full":
        return {"model": checkpoint(wildcards.model, "full")}
    inputs = {"model": model_dir(wildcards.model)}
    if wildcards.variant == "lora":
        inputs["adapter"] = checkpoint(wildcards.model, "lora")
    return inputs


def generation_inputs(wildcards):
    return {"questions": rules.bibleqa_records.output[0], **variant_model(wildcards)}


def probe_inputs(wildcards):
    return {"texts": rules.probe_texts.output[0], **variant_model(wildcards)}


def per_variant(pattern, model):
    """{variant: pattern filled in for each variant of `model`}."""
    return {v: expand(pattern, model=model, variant=v)[0] for v in VARIANTS}


def predictions(wildcards):
    return per_variant(rules.score_predictions.output[0], wildcards.model)


def probe_records(wildcards):
    return per_variant(rules.run_probes.output.records, wildcards.model)


def fine_tunes(wildcards):
    """The model's fine-tuned checkpoints, keyed by method."""
    return {m: checkpoint(wildcards.model, m) for m in METHODS}


def checkpoints_and_timings(wildcards):
    """The fine-tunes and every variant's generation timing (`<variant>_timing`): what the
    timing table reads."""
    inputs = fine_tunes(wildcards)
    timings = per_variant(rules.generate_answers.output.timing, wildcards.model)
    inputs.update({f"{v}_timing": path for v, path in timings.items()})
    return inputs


# --- resources: sized from the model (bibleft.sizing), grown with each retry -------------

MODEL_GPUS = config["resources"]["gpu"]
GENERATE_GPUS = sizing.generate_gpus(MODEL_GPUS)


def model_size(model):
    return model_entry(model)["params_millions"]

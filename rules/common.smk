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
from bibleft.configcheck import SCHEMA_PATH, load_schema, resolved_setting, validate_config  # noqa: E402
from bibleft.errors import InputError  # noqa: E402

try:
    validate_config(config, load_schema(SCHEMA_PATH))
except InputError as err:
    sys.exit(str(err))  # one line, no traceback: the message names the key

RUN_MODELS = config["run"]["models"]
# The grid: models x settings x seeds. Each (setting, seed) is one pair of fine-tunes and
# their answers, in results/<model>/<setting>/seed<seed>/; the base model answers once per
# model, in results/<model>/base/ (greedy decoding has no seed).
RUN_SETTINGS = config["run"]["settings"]
RUN_SEEDS = config["run"]["seeds"]
# Each setting resolved once: the train, lora and data keys its fine-tunes see.
SETTINGS = {name: resolved_setting(config, name) for name in config["settings"]}
# The three models the study compares, and the two fine-tuning methods among them: the
# rules and the scripts they run (through params) take them from here.
METHODS = ["full", "lora"]
VARIANTS = ["base", *METHODS]
# Every fine-tune of the grid for one model, in the order the across-seed tables list them.
TUNED_RUNS = [[setting, seed, method] for setting in RUN_SETTINGS for seed in RUN_SEEDS
              for method in METHODS]
# Where rule prepare_model puts a base model that is not a local directory.
PREPARED_MODEL = "models/{model}"
# The folder of the base model's answers and probes, beside the <setting>/seed<seed> ones.
BASE_RUN = "base"


wildcard_constraints:
    model="|".join(re.escape(m) for m in config["models"]),
    tokenizer="|".join(sorted({re.escape(m["tokenizer"]) for m in config["models"].values()})),
    setting="|".join(re.escape(s) for s in config["settings"]),
    seed=r"\d+",
    # base, or <setting>/seed<seed>: whose answers and probes a folder holds
    run="|".join([BASE_RUN, *(rf"{re.escape(s)}/seed\d+" for s in config["settings"])]),
    verse_format="reference_text|text",
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
    """The model whose tokenizer files make data/tokenized/<tokenizer>/<verse_format>/ (run models first)."""
    for model in RUN_MODELS + list(config["models"]):
        if tokenizer_key(model) == tokenizer:
            return model


def settings_of(section, keys):
    """Settings of config[section] as one mapping, for one `params:` entry. Snakemake tells
    whether a rule's params changed by comparing the *set* of their values, names left out:
    with two booleans (or two equal numbers) among a rule's params, flipping one of them
    would go unnoticed and leave stale outputs. A mapping keeps the names in its value."""
    return {key: config[section][key] for key in keys}


def train_settings(setting, method, seed):
    """The train settings one fine-tuning job sees: its setting's, its seed, and `compile`
    resolved to its method's mode, so a per-method change reruns only that method's job."""
    settings = dict(SETTINGS[setting]["train"], seed=int(seed))
    if isinstance(settings["compile"], dict):
        settings["compile"] = settings["compile"].get(method, False)
    if not settings["compile"]:
        # An eager job has no compile scope: changing it must not rerun (or stale) that job.
        settings.pop("compile_scope", None)
    return settings


def run_folder(setting, seed):
    return f"{setting}/seed{seed}"


def final_outputs():
    """What `snakemake` builds by default; called in the Snakefile, after every rule."""
    per_model = [rules.accuracy_table.output, rules.venn_diagram.output, rules.loss_curves.output,
                 rules.seed_tables.output]
    per_run = [rules.judge_predictions.output, rules.accuracy_bars.output, rules.timing_table.output]
    if config["probes"]["enabled"]:
        per_run.append(rules.probe_table.output)
    outputs = [path for paths in per_model for path in expand(paths, model=RUN_MODELS)]
    outputs += [path for paths in per_run
                for path in expand(paths, model=RUN_MODELS, setting=RUN_SETTINGS, seed=RUN_SEEDS)]
    if len(RUN_MODELS) > 1:
        outputs += rules.model_summary.output
    return outputs


def bibleqa_local_file(wildcards):
    path = config["data"]["bibleqa"]["path"]
    return [os.path.expanduser(path)] if path else []


def tokenized_corpus(model, setting):
    """The shards a setting's fine-tunes read: per tokenizer and verse format, so settings
    that share both share one tokenization."""
    return expand(rules.tokenize_corpus.output[0], tokenizer=tokenizer_key(model),
                  verse_format=SETTINGS[setting]["data"]["verse_format"])[0]


def checkpoint(model, setting, seed, method):
    return expand(rules.finetune.output[0], model=model, setting=setting, seed=seed, method=method)[0]


def variant_model(wildcards):
    """The base model for base (folder `base`); for a fine-tune (folder <setting>/seed<seed>)
    its checkpoint (full) or the base model and its adapter (LoRA, merged before use)."""
    if wildcards.run == BASE_RUN:
        if wildcards.variant != "base":
            raise ValueError(f"results/{wildcards.model}/{BASE_RUN}/ holds the base model only")
        return {"model": model_dir(wildcards.model)}
    if wildcards.variant == "base":
        raise ValueError(f"the base model's files are in results/{wildcards.model}/{BASE_RUN}/")
    setting, seed = re.fullmatch(r"(.+)/seed(\d+)", wildcards.run).groups()
    trained = checkpoint(wildcards.model, setting, seed, wildcards.variant)
    if wildcards.variant == "full":
        return {"model": trained}
    return {"model": model_dir(wildcards.model), "adapter": trained}


def generation_inputs(wildcards):
    return {"questions": rules.bibleqa_records.output[0], **variant_model(wildcards)}


def probe_inputs(wildcards):
    return {"texts": rules.probe_texts.output[0], **variant_model(wildcards)}


def variant_file(pattern, model, setting, seed, variant):
    """A per-variant file: the base model's in results/<model>/base/, a fine-tune's in its
    run's folder."""
    run = BASE_RUN if variant == "base" else run_folder(setting, seed)
    return expand(pattern, model=model, run=run, variant=variant)[0]


def per_variant(pattern):
    """An input function: {variant: file} of one run (wildcards model, setting, seed)."""
    return lambda wc: {v: variant_file(pattern, wc.model, wc.setting, wc.seed, v) for v in VARIANTS}


def across_runs(pattern):
    """An input function: the base model's file and every fine-tune's (in TUNED_RUNS' order,
    which the rule passes to its script as params.tuned_runs)."""
    return lambda wc: {
        "base": variant_file(pattern, wc.model, None, None, "base"),
        "tuned": [variant_file(pattern, wc.model, setting, seed, method)
                  for setting, seed, method in TUNED_RUNS],
    }


def fine_tunes(wildcards):
    """One run's fine-tuned checkpoints, keyed by method."""
    return {m: checkpoint(wildcards.model, wildcards.setting, wildcards.seed, m) for m in METHODS}


def all_fine_tunes(wildcards):
    """Every fine-tune of the model's grid, in TUNED_RUNS' order."""
    return [checkpoint(wildcards.model, *run) for run in TUNED_RUNS]


def checkpoints_and_timings(wildcards):
    """One run's fine-tunes and every variant's generation timing (`<variant>_timing`): what
    the timing table reads."""
    inputs = fine_tunes(wildcards)
    timings = per_variant(rules.generate_answers.output.timing)(wildcards)
    inputs.update({f"{v}_timing": path for v, path in timings.items()})
    return inputs


# --- resources: sized from the model (bibleft.sizing), grown with each retry -------------

MODEL_GPUS = config["resources"]["gpu"]
GENERATE_GPUS = sizing.generate_gpus(MODEL_GPUS)


def model_size(model):
    return model_entry(model)["params_millions"]

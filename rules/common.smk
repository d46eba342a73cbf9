# The one place that reads `config`: typed once by bibleft.config.load_config as EXPERIMENT
# (checked whole, every default filled in), what it names outside itself checked once
# (bibleft.preflight), then PLAN (bibleft.dag.Plan): the input and option functions every
# rule calls, which only return paths and settings. Then the wildcard constraints, the
# final targets, and what a run says at its start and at its failure.
import os
import sys
import time

sys.path.insert(0, os.path.join(workflow.basedir, "workflow_scripts"))
from bibleft import devices, preflight, sizing  # noqa: E402
from bibleft.config import load_config  # noqa: E402
from bibleft.corpora import EXAMPLES_FILE, VERSES_FILE  # noqa: E402
from bibleft.dag import (  # noqa: E402
    PASSAGES,
    PREPARED_MODEL,
    PROBE_SET,
    QA_TOKENIZED,
    QUESTIONS,
    RAW_QUESTIONS,
    RETRIEVAL_INDEX,
    SPLIT,
    TOKENIZED,
    Plan,
    answers_file,
    probes_pattern,
)
from bibleft.errors import InputError  # noqa: E402
from bibleft.grid import FineTune, folder_file  # noqa: E402

try:
    EXPERIMENT = load_config(
        config, [os.path.relpath(path) for path in workflow.config_settings.configfiles]
    )
    preflight.check_experiment(EXPERIMENT)
except InputError as err:
    sys.exit(str(err))  # one line, no traceback: the message names the key

PLAN = Plan(EXPERIMENT)
GRID = EXPERIMENT.grid
# The report (report/workflow.rst) renders the settings from `config`: the resolved ones.
config.update(EXPERIMENT.resolved_config())

workflow.global_wildcard_constraints(**PLAN.wildcard_constraints())


def final_outputs():
    """What `snakemake` builds by default; called in the Snakefile, after every rule."""
    per_model = [
        rules.accuracy_table.output,
        rules.loss_curves.output,
        rules.seed_tables.output,
        *(
            expand(rules.venn_diagram.output, mode_suffix=mode.variant(""), allow_missing=True)
            for mode in EXPERIMENT.modes
        ),
    ]
    per_run = [
        rules.judge_predictions.output,
        rules.accuracy_bars.output,
        rules.timing_table.output,
    ]
    if EXPERIMENT.probes.enabled:
        per_run.append(rules.probe_table.output)
    if PLAN.reads_passages():
        per_run.append(rules.retrieval_accuracy.output)
    outputs = [path for paths in per_model for path in expand(paths, model=GRID.models)]
    outputs += [
        path
        for paths in per_run
        for path in expand(paths, model=GRID.models, setting=GRID.settings, seed=GRID.seeds)
    ]
    if len(GRID.models) > 1:
        outputs += rules.model_summary.output
    return outputs


# --- resources: sized from the model (bibleft.sizing), grown with each retry -------------

MODEL_GPUS = EXPERIMENT.resources.gpu
GENERATE_GPUS = sizing.generate_gpus(MODEL_GPUS)
MODEL_THREADS = sizing.threads(MODEL_GPUS, EXPERIMENT.resources.cpus_per_gpu)
GENERATE_THREADS = sizing.threads(GENERATE_GPUS, EXPERIMENT.resources.cpus_per_gpu)


def generate_mem_mb(wildcards, attempt):
    return sizing.generate_mem_mb(PLAN.model_size(wildcards.model), attempt)


def generate_runtime(wildcards, attempt):
    return sizing.generate_runtime_min(PLAN.model_size(wildcards.model), attempt)


# --- the start of a run: the plan, the device, and no cluster run with placeholders --------
# --- and at its failure, the jobs' one-line errors last, after Snakemake's own account ----

RUN_STARTED = time.time()


onstart:
    merged = preflight.merge_order(
        workflow.configfiles,
        workflow.config_settings.configfiles,
        bool(workflow.config_settings.config),
    )
    executor = workflow.executor_plugin.name
    gpu_ids = devices.candidate_ids() if workflow.local_exec else []
    device = preflight.device_words(workflow.local_exec, executor, gpu_ids)
    print(preflight.plan_line(PLAN, merged, device), file=sys.stderr)
    print(preflight.progress_line(GRID), file=sys.stderr)
    if workflow.local_exec and (warning := preflight.gpu_warning(MODEL_GPUS, gpu_ids)):
        print(warning, file=sys.stderr)
    # What only a job in this run's DAG needs (the harness of lm_eval_compare), checked now.
    if error := preflight.check_jobs(EXPERIMENT, {job.rule.name for job in workflow.dag.jobs}):
        sys.exit(error)
    if executor == "slurm":
        defaults = {
            name: str(resource.raw)
            for name, resource in (workflow.resource_settings.default_resources or {}).items()
        }
        if error := preflight.slurm_placeholders(defaults):
            sys.exit(error)


onerror:
    for line in preflight.job_errors("logs", RUN_STARTED):
        print(line, file=sys.stderr)

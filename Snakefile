# Fine-Tuning on Pre-Training Data (Gronberg 2024), reproduced and extended.
# raw ASV + BibleQA -> tokenized shards -> full and LoRA fine-tunes
#   -> base/full/lora answers -> accuracy table, Venn diagram, loss curves, timing;
#   open book: the corpus's BM25 index -> each question's passages -> answers with them.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# The report's front page (`snakemake --report report.html`): the study, the settings of
# this run (rendered from the config) and how to read the tables.
report: "report/workflow.rst"


# The config typed and checked once first (rules/common.smk: EXPERIMENT, and PLAN, whose
# functions give each rule its inputs and its settings in `params:`), then one file per stage.
include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/tokenize.smk"
include: "rules/finetune.smk"
include: "rules/retrieve.smk"
include: "rules/predict.smk"
include: "rules/evaluate.smk"
include: "rules/judge.smk"
include: "rules/probe.smk"
# Optional, built only when asked by path: lm-evaluation-harness beside our own scoring.
include: "rules/lm_eval.smk"


rule all:
    default_target: True
    input:
        final_outputs(),

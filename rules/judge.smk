# Judging the comparison: stricter metrics with 95% intervals, paired tests between the
# variants, the audit of every answer judged right, and a summary over the run models.
# Everything is computed from the prediction files, so changing a `score:` setting
# rescores without regenerating a single answer.


rule judge_predictions:
    input:
        unpack(predictions),
    output:
        scores=report("results/{model}/scores.csv", caption="../report/scores.rst", category="Judgement"),
        significance=report("results/{model}/significance.csv", caption="../report/significance.rst",
                            category="Judgement"),
        audit=report("results/{model}/audit.csv", caption="../report/audit.rst", category="Judgement"),
    log:
        "logs/judge/{model}/judge_predictions.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        variants=VARIANTS,
        ignore_case=config["score"]["ignore_case"],
        alternatives=config["score"]["alternatives"],
        f1_threshold=config["score"]["f1_threshold"],
    script:
        "../workflow_scripts/judge_predictions.py"


rule accuracy_bars:
    input:
        scores=rules.judge_predictions.output.scores,
    output:
        report("results/{model}/accuracy_bars.png", caption="../report/accuracy_bars.rst", category="Judgement"),
    log:
        "logs/judge/{model}/accuracy_bars.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    script:
        "../workflow_scripts/judge_bars.py"


rule judge_summary:
    input:
        scores=expand(rules.judge_predictions.output.scores, model=RUN_MODELS),
    output:
        csv=report("results/summary.csv", caption="../report/summary.rst", category="Judgement"),
        png=report("results/summary.png", caption="../report/summary.rst", category="Judgement"),
    log:
        "logs/judge/summary.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        models=RUN_MODELS,
    script:
        "../workflow_scripts/judge_summary.py"

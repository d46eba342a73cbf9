# Judging the comparison: stricter metrics with 95% intervals, paired tests between the
# variants and the audit of every answer judged right, per run; across seeds, the
# per-seed and pooled tables and tests; and a summary over the run models. Everything is
# computed from the prediction files, so changing a `score:` setting rescores without
# regenerating a single answer.


rule judge_predictions:
    input:
        unpack(per_variant(rules.score_predictions.output[0])),
    output:
        scores=report("results/{model}/{setting}/seed{seed}/scores.csv", caption="../report/scores.rst",
                      category="Judgement", subcategory="{model} {setting} seed {seed}"),
        significance=report("results/{model}/{setting}/seed{seed}/significance.csv",
                            caption="../report/significance.rst", category="Judgement",
                            subcategory="{model} {setting} seed {seed}"),
        audit=report("results/{model}/{setting}/seed{seed}/audit.csv", caption="../report/audit.rst",
                     category="Judgement", subcategory="{model} {setting} seed {seed}"),
    log:
        "logs/judge/{model}/{setting}/seed{seed}/judge_predictions.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        variants=VARIANTS,
        # One mapping (settings_of): ignore_case and alternatives are both booleans.
        judging=settings_of("score", ["ignore_case", "alternatives", "f1_threshold"]),
    script:
        "../workflow_scripts/judge_predictions.py"


rule accuracy_bars:
    input:
        scores=rules.judge_predictions.output.scores,
    output:
        report("results/{model}/{setting}/seed{seed}/accuracy_bars.png", caption="../report/accuracy_bars.rst",
               category="Judgement", subcategory="{model} {setting} seed {seed}"),
    log:
        "logs/judge/{model}/{setting}/seed{seed}/accuracy_bars.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    script:
        "../workflow_scripts/judge_bars.py"


rule seed_tables:
    input:
        unpack(across_runs(rules.score_predictions.output[0])),
    output:
        seeds=report("results/{model}/seeds.csv", caption="../report/seeds.rst", category="Across seeds",
                     subcategory="{model}"),
        aggregate=report("results/{model}/aggregate.csv", caption="../report/seeds.rst",
                         category="Across seeds", subcategory="{model}"),
        significance=report("results/{model}/significance.csv", caption="../report/seeds.rst",
                            category="Across seeds", subcategory="{model}"),
        stability=report("results/{model}/stability.csv", caption="../report/seeds.rst",
                         category="Across seeds", subcategory="{model}"),
    log:
        "logs/judge/{model}/seed_tables.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        tuned_runs=TUNED_RUNS,
        # One mapping (settings_of): ignore_case and alternatives are both booleans.
        judging=settings_of("score", ["ignore_case", "alternatives", "f1_threshold"]),
    script:
        "../workflow_scripts/seed_tables.py"


rule model_summary:
    input:
        aggregates=expand(rules.seed_tables.output.aggregate, model=RUN_MODELS),
    output:
        csv=report("results/summary.csv", caption="../report/summary.rst", category="Across models"),
        png=report("results/summary.png", caption="../report/summary.rst", category="Across models"),
    log:
        "logs/judge/summary.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        models=RUN_MODELS,
        params_millions=[model_size(m) for m in RUN_MODELS],
    script:
        "../workflow_scripts/model_summary.py"

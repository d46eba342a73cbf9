# Judging the comparison: stricter metrics with 95% intervals, paired tests between the
# variants and the audit of every answer judged right, per run (open book: its variants
# beside closed book's, and accuracy by whether retrieval found the gold passage); across
# seeds, the per-seed and pooled tables and tests; and a summary over the run models.
# Everything is computed from the prediction files, so changing a `judge:` setting rescores
# without regenerating a single answer.


rule judge_predictions:
    input:
        unpack(PLAN.run_inputs("predictions")),
        unpack(PLAN.run_split),
    output:
        scores=report(
            folder_file(FineTune, "scores.csv"),
            caption="../report/scores.rst",
            category="Judgement",
            subcategory="{model} {setting} seed {seed}",
        ),
        significance=report(
            folder_file(FineTune, "significance.csv"),
            caption="../report/significance.rst",
            category="Judgement",
            subcategory="{model} {setting} seed {seed}",
        ),
        audit=report(
            folder_file(FineTune, "audit.csv"),
            caption="../report/audit.rst",
            category="Judgement",
            subcategory="{model} {setting} seed {seed}",
        ),
    log:
        "logs/judge/{model}/{setting}/seed{seed}/judge_predictions.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=EXPERIMENT.judge.as_dict(),
    script:
        "../workflow_scripts/judge_predictions.py"


rule retrieval_accuracy:
    input:
        unpack(PLAN.run_inputs("predictions")),
        unpack(PLAN.run_split),
        passages=PLAN.run_passages,
    output:
        report(
            folder_file(FineTune, "retrieval.csv"),
            caption="../report/retrieval.rst",
            category="Open book",
            subcategory="{model} {setting} seed {seed}",
        ),
    log:
        "logs/judge/{model}/{setting}/seed{seed}/retrieval_accuracy.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=EXPERIMENT.judge.as_dict(),
    script:
        "../workflow_scripts/retrieval_accuracy.py"


rule accuracy_bars:
    input:
        scores=rules.judge_predictions.output.scores,
    output:
        report(
            folder_file(FineTune, "accuracy_bars.png"),
            caption="../report/accuracy_bars.rst",
            category="Judgement",
            subcategory="{model} {setting} seed {seed}",
        ),
    log:
        "logs/judge/{model}/{setting}/seed{seed}/accuracy_bars.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.run_words,
    script:
        "../workflow_scripts/judge_bars.py"


rule seed_tables:
    input:
        unpack(PLAN.table_inputs("predictions")),
    output:
        seeds=report(
            "results/{model}/seeds.csv",
            caption="../report/seeds.rst",
            category="Across seeds",
            subcategory="{model}",
        ),
        aggregate=report(
            "results/{model}/aggregate.csv",
            caption="../report/seeds.rst",
            category="Across seeds",
            subcategory="{model}",
        ),
        significance=report(
            "results/{model}/significance.csv",
            caption="../report/seeds.rst",
            category="Across seeds",
            subcategory="{model}",
        ),
        stability=report(
            "results/{model}/stability.csv",
            caption="../report/seeds.rst",
            category="Across seeds",
            subcategory="{model}",
        ),
    log:
        "logs/judge/{model}/seed_tables.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: {**PLAN.table_options()(wc), "judge": EXPERIMENT.judge.as_dict()},
    script:
        "../workflow_scripts/seed_tables.py"


rule model_summary:
    input:
        unpack(
            lambda wc: {
                model: expand(rules.seed_tables.output.aggregate, model=model)[0]
                for model in GRID.models
            }
        ),
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
        options={
            "params_millions": {model: PLAN.model_size(model) for model in GRID.models},
            "questions": PLAN.question_sets_in_use(),
        },
    script:
        "../workflow_scripts/model_summary.py"

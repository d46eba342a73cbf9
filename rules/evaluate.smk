# The tables and figures a user opens first, per model, across its settings and seeds: the
# study's table (pooled over seeds), the Venn diagram of correct answers per answering mode
# (a fine-tune counts a question when right in most of its seeds) and the loss curves of
# every fine-tune; with the default single seed they are the study's. Then the timing of
# each run. Tables and figures take seconds: they run where Snakemake runs (localrule).


rule accuracy_table:
    input:
        unpack(PLAN.table_inputs("predictions")),
    output:
        csv=report(
            "results/{model}/accuracy.csv",
            caption="../report/accuracy.rst",
            category="Accuracy",
            subcategory="{model}",
        ),
        md="results/{model}/accuracy.md",
    log:
        "logs/evaluate/{model}/accuracy_table.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.table_options(),
    script:
        "../workflow_scripts/accuracy_table.py"


# venn.png closed book, venn_open.png open book (`{mode_suffix}`: grid.Mode.variant("")).
rule venn_diagram:
    input:
        unpack(PLAN.venn_inputs),
    output:
        png=report(
            "results/{model}/venn{mode_suffix}.png",
            caption="../report/venn.rst",
            category="Accuracy",
            subcategory="{model}",
        ),
        svg="results/{model}/venn{mode_suffix}.svg",
        sets="results/{model}/venn{mode_suffix}_sets.json",
    log:
        "logs/evaluate/{model}/venn_diagram{mode_suffix}.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.venn_options,
    script:
        "../workflow_scripts/venn_diagram.py"


rule loss_curves:
    input:
        unpack(PLAN.all_checkpoints),
    output:
        report(
            "results/{model}/loss.png",
            caption="../report/loss.rst",
            category="Training",
            subcategory="{model}",
        ),
    log:
        "logs/evaluate/{model}/loss_curves.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.fine_tunes_options,
    script:
        "../workflow_scripts/loss_curves.py"


rule timing_table:
    input:
        unpack(PLAN.checkpoints_and_timings),
    output:
        report(
            folder_file(FineTune, "timing.csv"),
            caption="../report/timing.rst",
            category="Training",
            subcategory="{model}",
        ),
    log:
        "logs/evaluate/{model}/{setting}/seed{seed}/timing_table.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    script:
        "../workflow_scripts/timing_table.py"

# The tables and figures a user opens first, per model, across its settings and seeds: the
# study's table (pooled over seeds), the Venn diagram of correct answers (a fine-tune counts
# a question when right in most of its seeds) and the loss curves of every fine-tune; with
# the default single seed they are the study's. Then the timing of each run. Tables and
# figures take seconds: they run where Snakemake runs (localrule), not as cluster jobs.


rule accuracy_table:
    input:
        unpack(across_fine_tunes("predictions")),
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
        options=fine_tunes_options,
    script:
        "../workflow_scripts/accuracy_table.py"


rule venn_diagram:
    input:
        unpack(across_fine_tunes("predictions", modes=[CLOSED])),
    output:
        png=report(
            "results/{model}/venn.png",
            caption="../report/venn.rst",
            category="Accuracy",
            subcategory="{model}",
        ),
        svg="results/{model}/venn.svg",
        sets="results/{model}/venn_sets.json",
    log:
        "logs/evaluate/{model}/venn_diagram.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=fine_tunes_options,
    script:
        "../workflow_scripts/venn_diagram.py"


# Open book's Venn diagram: the same sets of its answers (open_book.enabled).
use rule venn_diagram as open_venn_diagram with:
    input:
        unpack(across_fine_tunes("predictions", modes=[OPEN])),
    output:
        png=report(
            "results/{model}/venn_open.png",
            caption="../report/venn.rst",
            category="Accuracy",
            subcategory="{model}",
        ),
        svg="results/{model}/venn_open.svg",
        sets="results/{model}/venn_open_sets.json",
    log:
        "logs/evaluate/{model}/open_venn_diagram.log",
    params:
        options=lambda wc: {**fine_tunes_options(wc), "mode": OPEN},


rule loss_curves:
    input:
        unpack(all_checkpoints),
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
        options=fine_tunes_options,
    script:
        "../workflow_scripts/loss_curves.py"


rule timing_table:
    input:
        unpack(checkpoints_and_timings),
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

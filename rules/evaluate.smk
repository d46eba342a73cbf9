# Tables and figures of one model's three variants.


rule accuracy_table:
    input:
        unpack(predictions),
    output:
        csv=report("results/{model}/accuracy.csv", caption="../report/accuracy.rst", category="Accuracy"),
        md="results/{model}/accuracy.md",
    log:
        "logs/evaluate/{model}/accuracy_table.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        variants=VARIANTS,
    script:
        "../workflow_scripts/accuracy_table.py"


rule venn_diagram:
    input:
        unpack(predictions),
    output:
        png=report("results/{model}/venn.png", caption="../report/venn.rst", category="Accuracy"),
        svg="results/{model}/venn.svg",
        sets="results/{model}/venn_sets.json",
    log:
        "logs/evaluate/{model}/venn_diagram.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        variants=VARIANTS,
    script:
        "../workflow_scripts/venn_diagram.py"


rule loss_curves:
    input:
        unpack(fine_tunes),
    output:
        report("results/{model}/loss.png", caption="../report/loss.rst", category="Training"),
    log:
        "logs/evaluate/{model}/loss_curves.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        methods=METHODS,
    script:
        "../workflow_scripts/loss_curves.py"


rule timing_table:
    input:
        unpack(checkpoints_and_timings),
    output:
        report("results/{model}/timing.csv", caption="../report/timing.rst", category="Training"),
    log:
        "logs/evaluate/{model}/timing_table.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        variants=VARIANTS,
        methods=METHODS,
    script:
        "../workflow_scripts/timing_table.py"

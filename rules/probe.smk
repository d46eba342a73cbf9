# Knowledge probes (beyond the study): did fine-tuning teach the text, its content, or
# neither? One probe set per corpus the settings train on (examples seen in training and
# not, the same verses in a Bible's other translations, recall prompts, other texts; a
# Bible's in config.yaml's data.verse_format whatever a setting trains on), then forward
# passes of every fine-tune over its corpus's set and of the base model over each set
# (results/<model>/<run>/probes/<corpus>/<variant>.jsonl), then a table per run. Probe
# settings reach only these rules, so changing them never retrains or regenerates.


rule probe_texts:
    input:
        unpack(PLAN.probe_text_inputs),
    output:
        PROBE_SET,
    log:
        "logs/probes/probe_texts_{corpus}.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.probe_set_options,
    script:
        "../workflow_scripts/probe_texts.py"


rule run_probes:
    input:
        unpack(PLAN.probing_inputs),
    output:
        records=probes_pattern(),
        timing=probes_pattern(".timing.json"),
    log:
        "logs/probes/{model}/{run}/{corpus}/{variant}.log",
    benchmark:
        "logs/probes/{model}/{run}/{corpus}/{variant}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: GENERATE_THREADS
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=generate_mem_mb,
        runtime=generate_runtime,
    params:
        options=PLAN.probing_options,
    script:
        "../workflow_scripts/run_probes.py"


rule probe_table:
    input:
        unpack(PLAN.probe_files),
    output:
        csv=report(
            folder_file(FineTune, "probes.csv"),
            caption="../report/probes.rst",
            category="Probes",
            subcategory="{model} {setting} seed {seed}",
        ),
        significance=report(
            folder_file(FineTune, "probes_significance.csv"),
            caption="../report/probes.rst",
            category="Probes",
            subcategory="{model} {setting} seed {seed}",
        ),
        png=report(
            folder_file(FineTune, "probes.png"),
            caption="../report/probes.rst",
            category="Probes",
            subcategory="{model} {setting} seed {seed}",
        ),
    log:
        "logs/probes/{model}/{setting}/seed{seed}/probe_table.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: {"corpus": EXPERIMENT.settings[wc.setting].corpus},
    script:
        "../workflow_scripts/probe_table.py"

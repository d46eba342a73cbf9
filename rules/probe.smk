# Knowledge probes (beyond the study): did fine-tuning teach the text, its content, or
# neither? One probe set per corpus the settings train on (examples seen in training and
# not, the same verses in a Bible's other translations, recall prompts, other texts; a
# Bible's in config.yaml's data.verse_format whatever a setting trains on), then forward
# passes of every fine-tune over its corpus's set and of the base model over each set, then
# a table per run. Probe settings reach only these rules, so changing them never retrains
# or regenerates.


rule probe_texts:
    input:
        unpack(probe_text_inputs),
    output:
        "data/probes/{corpus}.jsonl",
    log:
        "logs/probes/probe_texts_{corpus}.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: probe_set_options(wc.corpus),
    script:
        "../workflow_scripts/probe_texts.py"


rule run_probes:
    input:
        unpack(probing_inputs),
    output:
        records=file_pattern(FineTune, "probes"),
        timing=file_pattern(FineTune, "probes", ".timing.json"),
    log:
        "logs/probes/{model}/{setting}/seed{seed}/{method}.log",
    benchmark:
        "logs/probes/{model}/{setting}/seed{seed}/{method}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: sizing.threads(GENERATE_GPUS, EXPERIMENT.resources.cpus_per_gpu)
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=lambda wc, attempt: sizing.generate_mem_mb(model_size(wc.model), attempt),
        runtime=lambda wc, attempt: sizing.generate_runtime_min(model_size(wc.model), attempt),
    params:
        options=lambda wc: probing_options(wc.model),
    script:
        "../workflow_scripts/run_probes.py"


use rule run_probes as run_base_probes with:
    output:
        records=file_pattern(BaseModel, "probes/{corpus}"),
        timing=file_pattern(BaseModel, "probes/{corpus}", ".timing.json"),
    log:
        "logs/probes/{model}/base/{corpus}.log",
    benchmark:
        "logs/probes/{model}/base/{corpus}.benchmark.tsv"


rule probe_table:
    input:
        unpack(probe_files),
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
    script:
        "../workflow_scripts/probe_table.py"

# Knowledge probes (beyond the study): did fine-tuning teach the text, its content, or
# neither? One probe set for every model (sampled verses, other translations, recall
# prompts, in config.yaml's data.verse_format whatever a setting trains on), then forward
# passes of the base model and of every fine-tune over it, then a table per run. Probe
# settings reach only these rules, so changing them never retrains or regenerates.


rule probe_texts:
    input:
        asv=rules.asv_text.output[0],
        texts=[os.path.expanduser(path) for path in config["probes"]["texts"].values()],
    output:
        "data/probes/texts.jsonl",
    log:
        "logs/probes/probe_texts.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        # The training slice decides which verses are "seen". One mapping (settings_of).
        settings={
            "books": config["data"]["asv"]["books"],
            "max_verses": config["data"]["asv"]["max_verses"],
            "verse_format": config["data"]["verse_format"],
            "probes_books": config["probes"]["books"],
            **settings_of("probes", ["verses", "completions", "translations", "seed"]),
        },
        text_names=list(config["probes"]["texts"]),
    script:
        "../workflow_scripts/probe_texts.py"


rule run_probes:
    input:
        unpack(probe_inputs),
    output:
        records="results/{model}/{run}/probes/{variant}.jsonl",
        timing="results/{model}/{run}/probes/{variant}.timing.json",
    log:
        "logs/probes/{model}/{run}/{variant}.log",
    benchmark:
        "logs/probes/{model}/{run}/{variant}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: sizing.threads(GENERATE_GPUS, config["resources"]["cpus_per_gpu"])
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=lambda wc, attempt: sizing.generate_mem_mb(model_size(wc.model), attempt),
        runtime=lambda wc, attempt: sizing.generate_runtime_min(model_size(wc.model), attempt),
    params:
        # One mapping: tf32 and trust_remote_code are both booleans (settings_of).
        settings={"batch_size": config["probes"]["batch_size"],
                  **settings_of("eval", ["dtype", "tf32"])},
        trust_remote_code=lambda wc: model_entry(wc.model)["trust_remote_code"],
    script:
        "../workflow_scripts/run_probes.py"


rule probe_table:
    input:
        unpack(per_variant(rules.run_probes.output.records)),
    output:
        csv=report("results/{model}/{setting}/seed{seed}/probes.csv", caption="../report/probes.rst",
                   category="Probes", subcategory="{model} {setting} seed {seed}"),
        significance=report("results/{model}/{setting}/seed{seed}/probes_significance.csv",
                            caption="../report/probes.rst", category="Probes",
                            subcategory="{model} {setting} seed {seed}"),
        png=report("results/{model}/{setting}/seed{seed}/probes.png", caption="../report/probes.rst",
                   category="Probes", subcategory="{model} {setting} seed {seed}"),
    log:
        "logs/probes/{model}/{setting}/seed{seed}/probe_table.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        variants=VARIANTS,
    script:
        "../workflow_scripts/probe_table.py"

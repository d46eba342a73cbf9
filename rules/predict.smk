# Each model answers every question (generation: the GPU job), then the study's lenient
# rule scores the answers (a cheap job, so changing the rule never regenerates). {run} is
# `base` (the base model, once per model) or <setting>/seed<seed> (that run's fine-tunes).


rule generate_answers:
    input:
        unpack(generation_inputs),
    output:
        answers="results/{model}/{run}/generations/{variant}.jsonl",
        timing="results/{model}/{run}/generations/{variant}.timing.json",
    log:
        "logs/generate/{model}/{run}/{variant}.log",
    benchmark:
        "logs/generate/{model}/{run}/{variant}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: sizing.threads(GENERATE_GPUS, config["resources"]["cpus_per_gpu"])
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=lambda wc, attempt: sizing.generate_mem_mb(model_size(wc.model), attempt),
        runtime=lambda wc, attempt: sizing.generate_runtime_min(model_size(wc.model), attempt),
    params:
        # One mapping (settings_of): several are booleans. A function, as the prompt holds
        # "{question}", which is not a wildcard.
        settings=lambda wc: settings_of("eval", ["prompt", "max_new_tokens", "limit", "batch_size",
                                                 "dtype", "tf32", "prefix_cache", "chat_template"]),
        trust_remote_code=lambda wc: model_entry(wc.model)["trust_remote_code"],
    script:
        "../workflow_scripts/generate_answers.py"


rule score_predictions:
    input:
        rules.generate_answers.output.answers,
    output:
        "results/{model}/{run}/predictions/{variant}.jsonl",
    log:
        "logs/score/{model}/{run}/{variant}.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        ignore_case=config["score"]["ignore_case"],
    script:
        "../workflow_scripts/score_predictions.py"

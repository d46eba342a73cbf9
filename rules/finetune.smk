# Full fine-tuning and LoRA: one rule, one script; the method only changes how the
# trainable model is built. One job per (model, setting, seed, method), each with its own
# GPU request, so a cluster trains the grid in parallel. Resumable checkpoints go to
# resume/, outside the output, because Snakemake deletes the outputs of a failed job.


rule finetune:
    input:
        data=lambda wc: tokenized_corpus(wc.model, wc.setting),
        model=lambda wc: model_dir(wc.model),
    output:
        directory("checkpoints/{model}/{setting}/seed{seed}/{method}"),
    log:
        "logs/finetune/{model}/{setting}/seed{seed}/{method}.log",
    benchmark:
        "logs/finetune/{model}/{setting}/seed{seed}/{method}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: sizing.threads(MODEL_GPUS, config["resources"]["cpus_per_gpu"])
    resources:
        gpu=MODEL_GPUS,
        mem_mb=lambda wc, attempt: sizing.train_mem_mb(model_size(wc.model), attempt),
        runtime=lambda wc, attempt: sizing.train_runtime_min(
            model_size(wc.model), SETTINGS[wc.setting]["train"]["epochs"], attempt),
    params:
        method="{method}",
        train=lambda wc: train_settings(wc.setting, wc.method, wc.seed),
        # LoRA settings reach the LoRA job only, so changing them leaves full alone.
        lora=lambda wc: SETTINGS[wc.setting]["lora"] if wc.method == "lora" else None,
        lora_targets=lambda wc: model_entry(wc.model)["lora_targets"] if wc.method == "lora" else None,
        trust_remote_code=lambda wc: model_entry(wc.model)["trust_remote_code"],
        resume_dir="resume/{model}/{setting}/seed{seed}/{method}",
    script:
        "../workflow_scripts/finetune.py"

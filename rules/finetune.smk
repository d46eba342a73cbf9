# Full fine-tuning and LoRA: one rule, one script; the method only changes how the
# trainable model is built. Resumable checkpoints go to resume/, outside the output,
# because Snakemake deletes the outputs of a failed job.


rule finetune:
    input:
        data=lambda wc: f"data/tokenized/{tokenizer_key(wc.model)}",
        model=lambda wc: model_dir(wc.model),
    output:
        directory("checkpoints/{model}/{method}"),
    log:
        "logs/finetune/{model}/{method}.log",
    benchmark:
        "benchmarks/finetune/{model}/{method}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: model_threads()
    resources:
        gpu=model_gpus(),
        mem_mb=train_mem_mb,
        runtime=train_runtime_min,
    params:
        method="{method}",
        train=lambda wc: train_settings(wc.method),
        # LoRA settings reach the LoRA job only, so changing them leaves full alone.
        lora=lambda wc: config["lora"] if wc.method == "lora" else None,
        lora_targets=lambda wc: model_entry(wc.model)["lora_targets"] if wc.method == "lora" else None,
        trust_remote_code=lambda wc: model_entry(wc.model)["trust_remote_code"],
        resume_dir="resume/{model}/{method}",
    script:
        "../workflow_scripts/finetune.py"

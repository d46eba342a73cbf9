# Full fine-tuning and LoRA: one rule, one script; the method only changes how the
# trainable model is built. One job per fine-tune of the grid (model, setting, seed,
# method: bibleft.grid.FineTune), each with its own GPU request, so a cluster trains the
# grid in parallel. Resume points go to resume/ (FineTune.resume_dir), outside the
# output, because Snakemake deletes the outputs of a failed job.


rule finetune:
    input:
        unpack(PLAN.finetune_inputs),
    output:
        directory(FineTune.CHECKPOINT),
    log:
        "logs/finetune/{model}/{setting}/seed{seed}/{method}.log",
    benchmark:
        "logs/finetune/{model}/{setting}/seed{seed}/{method}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: MODEL_THREADS
    resources:
        gpu=MODEL_GPUS,
        mem_mb=lambda wc, attempt: sizing.train_mem_mb(PLAN.model_size(wc.model), attempt),
        runtime=PLAN.train_runtime,
    params:
        options=PLAN.fine_tune_options,
    script:
        "../workflow_scripts/finetune.py"

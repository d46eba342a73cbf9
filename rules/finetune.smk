# Full fine-tuning and LoRA: one rule, one script; the method only changes how the
# trainable model is built. One job per fine-tune of the grid (model, setting, seed,
# method: bibleft.grid.FineTune), each with its own GPU request, so a cluster trains the
# grid in parallel. Resume points go to resume/ (FineTune.resume_dir), outside the
# output, because Snakemake deletes the outputs of a failed job.


rule finetune:
    input:
        data=lambda wc: tokenized_corpus(run_of(wc)),
        model=lambda wc: base_model_dir(wc.model),
    output:
        directory(FineTune.CHECKPOINT),
    log:
        "logs/finetune/{model}/{setting}/seed{seed}/{method}.log",
    benchmark:
        "logs/finetune/{model}/{setting}/seed{seed}/{method}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: sizing.threads(MODEL_GPUS, EXPERIMENT.resources.cpus_per_gpu)
    resources:
        gpu=MODEL_GPUS,
        mem_mb=lambda wc, attempt: sizing.train_mem_mb(model_size(wc.model), attempt),
        runtime=lambda wc, attempt: sizing.train_runtime_min(
            model_size(wc.model), EXPERIMENT.settings[wc.setting].train.epochs, attempt
        ),
    params:
        options=lambda wc: EXPERIMENT.fine_tune_options(run_of(wc)),
    script:
        "../workflow_scripts/finetune.py"

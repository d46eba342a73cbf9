# EleutherAI's lm-evaluation-harness on one run's three models (docs/lm-eval.md): the
# study's task (lm_eval_tasks/bibleqa_study/) answered by the harness, its lenient accuracy
# beside the workflow's own for the same questions, per variant. Not among the default
# targets: build it by path,
#   snakemake --cores 2 results/<model>/<setting>/seed<seed>/lm_eval.csv
# The harness runs in its own environment (requirements-lmeval.txt), the Python named by
# config `lm_eval.python`.


rule lm_eval_compare:
    input:
        unpack(lm_eval_inputs),
    output:
        table=folder_file(FineTune, "lm_eval.csv"),
        samples=directory(folder_file(FineTune, "lm_eval")),
    log:
        "logs/lm_eval/{model}/{setting}/seed{seed}.log",
    conda:
        "../envs/lm_eval.yaml"
    threads: sizing.threads(GENERATE_GPUS, EXPERIMENT.resources.cpus_per_gpu)
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=lambda wc, attempt: sizing.generate_mem_mb(model_size(wc.model), attempt),
        # three models, each loaded and answering in its own harness process
        runtime=lambda wc, attempt: 3 * sizing.generate_runtime_min(model_size(wc.model), attempt),
    params:
        # A function: the prompt holds "{question}", which is not a wildcard.
        options=lambda wc: {**EXPERIMENT.lm_eval.as_dict(), **answering_options(wc.model)},
    script:
        "../workflow_scripts/lm_eval_compare.py"

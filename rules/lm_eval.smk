# EleutherAI's lm-evaluation-harness on one run's three models (docs/lm-eval.md): the
# study's task (lm_eval_tasks/bibleqa_study/) answered by the harness, its lenient accuracy
# beside the workflow's own for the same questions, per variant. Not among the default
# targets: build it by path,
#   snakemake --cores 2 results/<model>/<setting>/seed<seed>/lm_eval.csv
# The harness runs in its own environment (requirements-lmeval.txt), the Python named by
# config `lm_eval.python`.


rule lm_eval_compare:
    input:
        unpack(PLAN.lm_eval_inputs),
        task=os.path.join(workflow.basedir, "lm_eval_tasks"),
    output:
        table=folder_file(FineTune, "lm_eval.csv"),
        samples=directory(folder_file(FineTune, "lm_eval")),
    log:
        "logs/lm_eval/{model}/{setting}/seed{seed}.log",
    conda:
        "../envs/lm_eval.yaml"
    threads: GENERATE_THREADS
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=generate_mem_mb,
        # three models, each loaded and answering in its own harness process
        runtime=lambda wc, attempt: 3 * generate_runtime(wc, attempt),
    params:
        # A function: the prompt holds "{question}", which is not a wildcard.
        options=lambda wc: {
            **EXPERIMENT.lm_eval.as_dict(),
            "answer": EXPERIMENT.answer.as_dict(),
            "trust_remote_code": EXPERIMENT.models[wc.model].trust_remote_code,
        },
    script:
        "../workflow_scripts/lm_eval_compare.py"

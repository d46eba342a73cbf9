# EleutherAI's lm-evaluation-harness on one run's three models (docs/lm-eval.md): the
# study's task (lm_eval_tasks/bibleqa_study/) answered by the harness, its lenient accuracy
# beside the workflow's own for the same questions, per variant. Not among the default
# targets: build it by path,
#   snakemake --cores 2 results/<model>/<setting>/seed<seed>/lm_eval.csv
# The harness runs in its own environment (requirements-lmeval.txt), the Python named by
# config `lm_eval.python`.


rule lm_eval_compare:
    input:
        questions=rules.bibleqa_records.output[0],
        base_model=lambda wc: model_dir(wc.model),
        full=lambda wc: checkpoint(wc.model, wc.setting, wc.seed, "full"),
        lora=lambda wc: checkpoint(wc.model, wc.setting, wc.seed, "lora"),
        base_predictions=lambda wc: variant_file(rules.score_predictions.output[0], wc.model,
                                                 wc.setting, wc.seed, "base"),
        full_predictions=lambda wc: variant_file(rules.score_predictions.output[0], wc.model,
                                                 wc.setting, wc.seed, "full"),
        lora_predictions=lambda wc: variant_file(rules.score_predictions.output[0], wc.model,
                                                 wc.setting, wc.seed, "lora"),
    output:
        table="results/{model}/{setting}/seed{seed}/lm_eval.csv",
        samples=directory("results/{model}/{setting}/seed{seed}/lm_eval"),
    log:
        "logs/lm_eval/{model}/{setting}/seed{seed}.log",
    conda:
        "../envs/lm_eval.yaml"
    threads: sizing.threads(GENERATE_GPUS, config["resources"]["cpus_per_gpu"])
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=lambda wc, attempt: sizing.generate_mem_mb(model_size(wc.model), attempt),
        # three models, each loaded and answering in its own harness process
        runtime=lambda wc, attempt: 3 * sizing.generate_runtime_min(model_size(wc.model), attempt),
    params:
        python=config["lm_eval"]["python"],
        batch_size=config["lm_eval"]["batch_size"],
        task_dir=os.path.join(workflow.basedir, "lm_eval_tasks"),
        prompt=lambda wc: config["eval"]["prompt"],  # holds "{question}": not a wildcard
        max_new_tokens=config["eval"]["max_new_tokens"],
        limit=config["eval"]["limit"],
        dtype=config["eval"]["dtype"],
        chat_template=config["eval"]["chat_template"],
        trust_remote_code=lambda wc: model_entry(wc.model)["trust_remote_code"],
    script:
        "../workflow_scripts/lm_eval_compare.py"

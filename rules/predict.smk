# Each answer set (bibleft.grid.AnswerSet: a run, a question set, an answering mode and,
# open book, a book) is one job of each rule: the model answers every question (the GPU
# job), then the study's lenient rule scores the answers (a cheap job, so changing the rule
# never regenerates). The base model answers once per model (greedy decoding has no seed),
# in results/<model>/base/; a fine-tune in results/<model>/<setting>/seed<seed>/. Which
# modes run, and each one's prompt, is grid.MODES's.


rule generate_answers:
    input:
        unpack(PLAN.answering_inputs),
    output:
        answers=answers_file("generations"),
        timing=answers_file("generations", ".timing.json"),
    log:
        "logs/generate/{model}/{run}/{questions}/{mode}/{variant}.log",
    benchmark:
        "logs/generate/{model}/{run}/{questions}/{mode}/{variant}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: GENERATE_THREADS
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=generate_mem_mb,
        runtime=generate_runtime,
    params:
        # A function: the prompt holds "{question}", which is not a wildcard.
        options=PLAN.answering_options,
    script:
        "../workflow_scripts/generate_answers.py"


rule score_predictions:
    input:
        rules.generate_answers.output.answers,
    output:
        answers_file("predictions"),
    log:
        "logs/score/{model}/{run}/{questions}/{mode}/{variant}.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options={"ignore_case": EXPERIMENT.judge.ignore_case},
    script:
        "../workflow_scripts/score_predictions.py"

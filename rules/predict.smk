# Each model answers every question (generation: the GPU job), then the study's lenient
# rule scores the answers (a cheap job, so changing the rule never regenerates). The rules
# are written for a fine-tune (bibleft.grid.FineTune: results/<model>/<setting>/seed<seed>/)
# and used again for the base model, which answers once per model (grid.BaseModel:
# results/<model>/base/; greedy decoding has no seed).


rule generate_answers:
    input:
        unpack(answering_inputs),
    output:
        answers=file_pattern(FineTune, "generations"),
        timing=file_pattern(FineTune, "generations", ".timing.json"),
    log:
        "logs/generate/{model}/{setting}/seed{seed}/{method}.log",
    benchmark:
        "logs/generate/{model}/{setting}/seed{seed}/{method}.benchmark.tsv"
    conda:
        "../envs/torch.yaml"
    threads: sizing.threads(GENERATE_GPUS, EXPERIMENT.resources.cpus_per_gpu)
    resources:
        gpu=GENERATE_GPUS,
        mem_mb=lambda wc, attempt: sizing.generate_mem_mb(model_size(wc.model), attempt),
        runtime=lambda wc, attempt: sizing.generate_runtime_min(model_size(wc.model), attempt),
    params:
        # A function: the prompt holds "{question}", which is not a wildcard.
        options=lambda wc: answering_options(wc.model),
    script:
        "../workflow_scripts/generate_answers.py"


use rule generate_answers as generate_base_answers with:
    output:
        answers=file_pattern(BaseModel, "generations"),
        timing=file_pattern(BaseModel, "generations", ".timing.json"),
    log:
        "logs/generate/{model}/base/base.log",
    benchmark:
        "logs/generate/{model}/base/base.benchmark.tsv"


rule score_predictions:
    input:
        rules.generate_answers.output.answers,
    output:
        file_pattern(FineTune, "predictions"),
    log:
        "logs/score/{model}/{setting}/seed{seed}/{method}.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options={"ignore_case": EXPERIMENT.judge.ignore_case},
    script:
        "../workflow_scripts/score_predictions.py"


use rule score_predictions as score_base_predictions with:
    input:
        rules.generate_base_answers.output.answers,
    output:
        file_pattern(BaseModel, "predictions"),
    log:
        "logs/score/{model}/base/base.log",


# Open book (open_book.enabled): the same models answer again with each question's
# passages from the book in the prompt (open_book.prompt), into the run's open/<book>/
# folder; the book is a setting's corpus unless open_book.corpus names another.
use rule generate_answers as generate_open_answers with:
    input:
        unpack(open_answering_inputs),
    output:
        answers=file_pattern(FineTune, mode_kind("generations", OPEN)),
        timing=file_pattern(FineTune, mode_kind("generations", OPEN), ".timing.json"),
    log:
        "logs/generate/{model}/{setting}/seed{seed}/open/{book}/{method}.log",
    benchmark:
        "logs/generate/{model}/{setting}/seed{seed}/open/{book}/{method}.benchmark.tsv"
    params:
        options=lambda wc: open_answering_options(wc.model),


use rule generate_answers as generate_open_base_answers with:
    input:
        unpack(open_answering_inputs),
    output:
        answers=file_pattern(BaseModel, mode_kind("generations", OPEN)),
        timing=file_pattern(BaseModel, mode_kind("generations", OPEN), ".timing.json"),
    log:
        "logs/generate/{model}/base/open/{book}/base.log",
    benchmark:
        "logs/generate/{model}/base/open/{book}/base.benchmark.tsv"
    params:
        options=lambda wc: open_answering_options(wc.model),


use rule score_predictions as score_open_predictions with:
    input:
        rules.generate_open_answers.output.answers,
    output:
        file_pattern(FineTune, mode_kind("predictions", OPEN)),
    log:
        "logs/score/{model}/{setting}/seed{seed}/open/{book}/{method}.log",


use rule score_predictions as score_open_base_predictions with:
    input:
        rules.generate_open_base_answers.output.answers,
    output:
        file_pattern(BaseModel, mode_kind("predictions", OPEN)),
    log:
        "logs/score/{model}/base/open/{book}/base.log",


# A setting may answer a question set other than data.questions (settings.<name>.data.questions,
# e.g. the facts control's): the base model answers it once, into
# results/<model>/base/questions/<questions>/ (grid.questions_kind), closed and open book.
use rule generate_answers as generate_base_answers_to with:
    output:
        answers=file_pattern(BaseModel, questions_kind("generations")),
        timing=file_pattern(BaseModel, questions_kind("generations"), ".timing.json"),
    log:
        "logs/generate/{model}/base/questions/{questions}/base.log",
    benchmark:
        "logs/generate/{model}/base/questions/{questions}/base.benchmark.tsv"


use rule score_predictions as score_base_predictions_to with:
    input:
        rules.generate_base_answers_to.output.answers,
    output:
        file_pattern(BaseModel, questions_kind("predictions")),
    log:
        "logs/score/{model}/base/questions/{questions}/base.log",


use rule generate_open_base_answers as generate_open_base_answers_to with:
    output:
        answers=file_pattern(BaseModel, questions_kind(mode_kind("generations", OPEN))),
        timing=file_pattern(
            BaseModel, questions_kind(mode_kind("generations", OPEN)), ".timing.json"
        ),
    log:
        "logs/generate/{model}/base/questions/{questions}/open/{book}/base.log",
    benchmark:
        "logs/generate/{model}/base/questions/{questions}/open/{book}/base.benchmark.tsv"


use rule score_predictions as score_open_base_predictions_to with:
    input:
        rules.generate_open_base_answers_to.output.answers,
    output:
        file_pattern(BaseModel, questions_kind(mode_kind("predictions", OPEN))),
    log:
        "logs/score/{model}/base/questions/{questions}/open/{book}/base.log",

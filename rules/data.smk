# Raw data: the corpora fine-tuning reads and the question sets the models answer, each read
# by its kind (bibleft.corpora, bibleft.questions). A Bible is a verse table, the study's
# layout; any other corpus a list of examples. Downloads are local rules: compute nodes of
# many clusters have no internet.


rule bible_text:
    output:
        VERSES_FILE,
    log:
        "logs/data/{corpus}_text.log",
    wildcard_constraints:
        corpus=PLAN.corpora_pattern(bible=True),
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        # Where the text comes from; the training slice (books, max_verses) is not its concern.
        options=PLAN.corpus_source,
    script:
        "../workflow_scripts/bible_text.py"


rule corpus_examples:
    input:
        local=PLAN.corpus_local_source,
    output:
        EXAMPLES_FILE,
    log:
        "logs/data/{corpus}_examples.log",
    wildcard_constraints:
        corpus=PLAN.corpora_pattern(bible=False),
    localrule: True
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.corpus_source,
    script:
        "../workflow_scripts/corpus_examples.py"


rule bibleqa_raw:
    input:
        local=PLAN.bibleqa_local_file,
    output:
        RAW_QUESTIONS,
    log:
        "logs/data/{questions}_raw.log",
    wildcard_constraints:
        questions=PLAN.questions_pattern("bibleqa"),
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.bibleqa_download,
    script:
        "../workflow_scripts/bibleqa_raw.py"


rule question_split:
    input:
        unpack(PLAN.split_inputs),
    output:
        SPLIT,
    log:
        "logs/data/{questions}_split.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.split_options,
    script:
        "../workflow_scripts/question_split.py"


rule question_records:
    input:
        unpack(PLAN.question_source),
    output:
        QUESTIONS,
    log:
        "logs/data/{questions}_records.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.question_records_options,
    script:
        "../workflow_scripts/question_records.py"

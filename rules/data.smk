# Raw data: the corpora fine-tuning reads and the question set the models answer.
# Downloads are local rules: compute nodes of many clusters have no internet.


rule bible_text:
    output:
        "data/raw/{corpus}.tsv",
    log:
        "logs/data/{corpus}_text.log",
    wildcard_constraints:
        corpus=bible_corpora_pattern(),
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        # Where the text comes from; the training slice (books, max_verses) is not its concern.
        options=lambda wc: bible_source(wc.corpus),
    script:
        "../workflow_scripts/bible_text.py"


rule corpus_examples:
    input:
        local=corpus_local_source,
    output:
        "data/corpora/{corpus}.jsonl",
    log:
        "logs/data/{corpus}_examples.log",
    wildcard_constraints:
        corpus=other_corpora_pattern(),
    localrule: True
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: corpus_source(wc.corpus),
    script:
        "../workflow_scripts/corpus_examples.py"


rule bibleqa_raw:
    input:
        local=bibleqa_local_file,
    output:
        "data/raw/questions/{questions}.tsv",
    log:
        "logs/data/{questions}_raw.log",
    wildcard_constraints:
        questions=question_sets_pattern("bibleqa"),
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        # The URL only matters when no local file is given.
        options=lambda wc: bibleqa_download(wc.questions),
    script:
        "../workflow_scripts/bibleqa_raw.py"


rule question_records:
    input:
        unpack(question_source),
    output:
        "data/questions/{questions}.jsonl",
    log:
        "logs/data/{questions}_records.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: question_records_options(wc.questions),
    script:
        "../workflow_scripts/question_records.py"

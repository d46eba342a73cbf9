# Raw data: the ASV text and the BibleQA question set.
# Downloads are local rules: compute nodes of many clusters have no internet.


rule asv_text:
    output:
        "data/raw/asv.tsv",
    log:
        "logs/data/asv_text.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        # Where the text comes from; the training slice (books, max_verses) is not its concern.
        options={key: getattr(EXPERIMENT.data.asv, key) for key in ("source", "url", "sha256")},
    script:
        "../workflow_scripts/asv_text.py"


rule bibleqa_raw:
    input:
        local=bibleqa_local_file,
    output:
        "data/raw/bibleqa.tsv",
    log:
        "logs/data/bibleqa_raw.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        # The URL only matters when no local file is given.
        options=None if EXPERIMENT.data.bibleqa.path else {"url": EXPERIMENT.data.bibleqa.url,
                                                            "sha256": EXPERIMENT.data.bibleqa.sha256},
    script:
        "../workflow_scripts/bibleqa_raw.py"


rule bibleqa_records:
    input:
        rules.bibleqa_raw.output[0],
    output:
        "data/bibleqa.jsonl",
    log:
        "logs/data/bibleqa_records.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    script:
        "../workflow_scripts/bibleqa_records.py"

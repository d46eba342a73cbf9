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
        source=config["data"]["asv"]["source"],
        url=config["data"]["asv"]["url"],
        sha256=config["data"]["asv"]["sha256"],
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
        url=None if config["data"]["bibleqa"]["path"] else config["data"]["bibleqa"]["url"],
        sha256=None if config["data"]["bibleqa"]["path"] else config["data"]["bibleqa"]["sha256"],
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

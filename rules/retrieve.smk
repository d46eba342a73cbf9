# Open book (beyond the study, open_book.enabled): the passages of a corpus, the book, that
# best match each question. An index per corpus (its training slice, the examples a
# fine-tune on it reads), then the passages of each question of a set, model-independent,
# with their references and scores and where the question's gold passage stands, and
# beside them how often it was found (recall@1..k). Changing open_book.k reruns the
# passages and what answers with them, never the index or the closed-book answers.


rule retrieval_index:
    input:
        corpus=lambda wc: PLAN.corpus_file(wc.corpus),
    output:
        directory(RETRIEVAL_INDEX),
    log:
        "logs/retrieval/{corpus}/index.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.retrieval_index_options,
    script:
        "../workflow_scripts/retrieval_index.py"


rule retrieve_passages:
    input:
        unpack(PLAN.retrieval_inputs),
    output:
        passages=PASSAGES,
        recall=report(
            "data/retrieval/{corpus}/{questions}/recall.csv",
            caption="../report/retrieval.rst",
            category="Open book",
            subcategory="{corpus}",
        ),
    log:
        "logs/retrieval/{corpus}/{questions}/passages.log",
    conda:
        "../envs/data.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.retrieval_options,
    script:
        "../workflow_scripts/retrieve_passages.py"

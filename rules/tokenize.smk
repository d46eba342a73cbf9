# One example per verse of a Bible (in `data.verse_format`), per line or paragraph of a
# text, per row of a dataset; the training slice of the corpus, tokenized and saved as a
# sharded `datasets` dataset (EOS is added at training time, by `train.eos`). Keyed by
# tokenizer, corpus and example format, so every GPT-2 size shares one tokenization, and so
# does every setting that keeps the corpus and the format.


rule tokenize_corpus:
    input:
        unpack(PLAN.tokenize_inputs),
    output:
        directory(TOKENIZED),
    log:
        "logs/tokenize/{tokenizer}/{corpus}/{example_format}.log",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.tokenize_options,
    script:
        "../workflow_scripts/tokenize_corpus.py"


# A recipe's questions (train.recipe reads qa, qa_passages): the trained part of the
# setting's question set as question-answer examples, in a mode's prompt (closed book's, or
# open book's with each question's passages: RAFT). Keyed by tokenizer, question set and
# mode, so every fine-tune that reads them shares them.
rule tokenize_qa:
    input:
        unpack(PLAN.qa_inputs),
    output:
        directory(QA_TOKENIZED),
    log:
        "logs/tokenize/{tokenizer}/qa/{questions}/{mode}.log",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        options=PLAN.qa_options,
    script:
        "../workflow_scripts/tokenize_qa.py"

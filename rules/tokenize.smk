# One example per verse of a Bible (in `data.verse_format`), per line or paragraph of a
# text, per row of a dataset; the training slice of the corpus, tokenized and saved as a
# sharded `datasets` dataset (EOS is added at training time, by `train.eos`). Keyed by
# tokenizer, corpus and example format, so every GPT-2 size shares one tokenization, and so
# does every setting that keeps the corpus and the format.


rule tokenize_corpus:
    input:
        text=lambda wc: corpus_file(wc.corpus),
        model=lambda wc: base_model_dir(tokenizer_source_model(wc.tokenizer)),
    output:
        directory("data/tokenized/{tokenizer}/{corpus}/{example_format}"),
    log:
        "logs/tokenize/{tokenizer}/{corpus}/{example_format}.log",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: {
            "kind": EXPERIMENT.corpora[wc.corpus].kind,
            **EXPERIMENT.corpora[wc.corpus].slice(),
            "num_shards": EXPERIMENT.data.num_shards,
            "trust_remote_code": model_entry(
                tokenizer_source_model(wc.tokenizer)
            ).trust_remote_code,
        },
    script:
        "../workflow_scripts/tokenize_corpus.py"

# One example per verse in `data.verse_format`, saved as a sharded `datasets` dataset
# (EOS is added at training time, by `train.eos`). Keyed by tokenizer and verse format, so
# all GPT-2 sizes share one tokenization, and so do all settings that keep the format.


rule tokenize_corpus:
    input:
        asv=rules.asv_text.output[0],
        model=lambda wc: base_model_dir(tokenizer_source_model(wc.tokenizer)),
    output:
        directory("data/tokenized/{tokenizer}/{verse_format}"),
    log:
        "logs/tokenize/{tokenizer}/{verse_format}.log",
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
    params:
        options=lambda wc: {
            # the training slice
            "books": EXPERIMENT.data.asv.books, "max_verses": EXPERIMENT.data.asv.max_verses,
            "num_shards": EXPERIMENT.data.num_shards,
            "trust_remote_code": model_entry(tokenizer_source_model(wc.tokenizer)).trust_remote_code},
    script:
        "../workflow_scripts/tokenize_corpus.py"

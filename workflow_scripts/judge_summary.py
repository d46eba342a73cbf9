"""results/summary.csv and summary.png: every run model's scores side by side."""
from bibleft.entry import run_step
from bibleft.figures import plot_summary
from bibleft.fileio import atomic_path, write_text
from bibleft.tables import SCORE_COLUMNS, read_scores_csv, rows_to_csv, summary_rows


def main(smk):
    scores = {model: read_scores_csv(path)
              for model, path in zip(smk.params.models, smk.input.scores, strict=True)}
    rows = summary_rows(scores)
    write_text(smk.output.csv, rows_to_csv(rows, ["model", *SCORE_COLUMNS]))
    with atomic_path(smk.output.png) as png:
        plot_summary(rows, png)
    print(f"{len(rows)} rows from {len(scores)} model(s)")


run_step(snakemake, main)  # noqa: F821

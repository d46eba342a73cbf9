"""A figure is the same bytes each time it is drawn from the same numbers, so a rerun (and
benchmarks/same_outputs.py) sees no change where there is none."""

from __future__ import annotations

import subprocess
import sys

from workflow_helpers import ROOT

DRAW = """
import sys
sys.path.insert(0, {scripts!r})
from bibleft.figures import plot_venn_settings
venn = {{"paper": {{"sets": {{"base": [1, 2], "full": [2, 3], "lora": [3]}},
                    "regions": {{"100": 1, "010": 0, "001": 0, "110": 1, "101": 0, "011": 1, "111": 0}}}}}}
plot_venn_settings(venn, "Right answers", {{"paper": "bibleqa, fine-tuned on asv"}},
                   sys.argv[1] + ".png", sys.argv[1] + ".svg")
"""


def test_a_venn_diagram_drawn_twice_is_the_same_bytes(tmp_path):
    # Two processes: matplotlib salts an SVG's ids at random per process and dates it.
    code = DRAW.format(scripts=str(ROOT / "workflow_scripts"))
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True)
    for suffix in (".svg", ".png"):
        first, second = ((tmp_path / f"{n}{suffix}").read_bytes() for n in ("a", "b"))
        assert first and first == second, suffix
    assert b"<dc:date>" not in (tmp_path / "a.svg").read_bytes()

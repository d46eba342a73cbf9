"""The ASV text, from the PyPI package and from an openbible.com-style file."""

import re

import pytest

from bibleft import asv
from bibleft.errors import InputError


@pytest.fixture(scope="module")
def verses():
    return asv.verses_from_pythonbible()


def test_pythonbible_gives_every_verse(verses):
    assert len(verses) == 31102
    assert verses[0].reference == "Genesis 1:1"
    assert verses[0].text == "In the beginning God created the heavens and the earth."
    assert verses[-1].reference == "Revelation 22:21"


def test_no_verse_numbers_or_brackets_left(verses):
    assert not [v for v in verses if re.match(r"^\d+\.", v.text)]
    assert not [v for v in verses if "[" in v.text or "]" in v.text]
    # The ASV omits 16 verses of the received text (Matthew 17:21, Mark 9:44, ...): they
    # stay as empty lines so that asv.tsv keeps all 31,102 references.
    empty = [v.reference for v in verses if not v.text]
    assert len(empty) == 16 and "Matthew 17:21" in empty


def test_clean_verse_text():
    assert asv.clean_verse_text("11. herbs yielding seed, [and] fruit-trees") == \
        "herbs yielding seed, and fruit-trees"
    assert asv.clean_verse_text("14.( for thou shalt worship") == "( for thou shalt worship"


def test_tsv_round_trip(tmp_path, verses):
    path = tmp_path / "asv.tsv"
    path.write_text(asv.format_tsv(verses[:50]), encoding="utf-8")
    assert asv.read_tsv(path) == verses[:50]


def test_openbible_layout_skips_header(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text("American Standard Version\nPublic domain\n\n"
                    "Genesis 1:1\tIn the beginning God created the heavens and the earth.\n"
                    "1 Samuel 3:4\tthat Jehovah called Samuel; and he said, Here am I.\n",
                    encoding="utf-8")
    verses = asv.verses_from_openbible_text(path)
    assert [v.reference for v in verses] == ["Genesis 1:1", "1 Samuel 3:4"]
    assert verses[1].book == "1 Samuel"


def test_select_verses(verses):
    ruth = asv.select_verses(verses, ["Ruth"])
    assert len(ruth) == 85 and {v.book for v in ruth} == {"Ruth"}
    assert len(asv.select_verses(verses, None, 10)) == 10
    with pytest.raises(InputError, match="corpora.asv.books"):
        asv.select_verses(verses, ["Hezekiah"])
    with pytest.raises(InputError, match=r"^config probes\.books: unknown book\(s\) \['Hezekiah'\]"):
        asv.select_verses(verses, ["Hezekiah"], key="probes.books")

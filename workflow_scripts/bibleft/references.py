"""Verse references as question sets write them (BibleQA's `Gen 17:15`, `Ru 4:2`,
`Jm 5:15`) read as the references of a Bible corpus's verses (`Genesis 17:15`): the gold
passage a question's answer comes from.

The reading is pythonbible's (its parser knows the usual abbreviations and checks that the
chapter and verse exist); the few abbreviations of BibleQA's file it does not know are
spelled out first. Verses are titled as data/raw/<corpus>.tsv titles them (the ASV's short
titles, asv.aligned_pythonbible_verses), so a reference matches a corpus example by text.
"""

from __future__ import annotations

import functools
import re

# BibleQA's book abbreviations that pythonbible 0.15 does not read ("Ex 23:19", "Jm 5:15",
# "Ru 4:2"); every other abbreviation the published file uses it reads as it stands
# (tests/test_references.py holds the list).
EXTRA_ABBREVIATIONS = {"Ex": "Exodus", "Jm": "James", "Ru": "Ruth"}
_BOOK_THEN_NUMBERS = re.compile(r"^\s*(?P<book>(?:[1-3]\s*)?[A-Za-z][A-Za-z.]*)\.?\s+(?P<rest>\d.*)$")


@functools.lru_cache(maxsize=1)
def _short_titles() -> dict:
    """pythonbible.Book -> the ASV's short title, as the corpora's references have them."""
    import pythonbible
    from pythonbible.bible import get_bible

    return dict(get_bible(pythonbible.Version.AMERICAN_STANDARD, "plain_text").short_titles)


def verse_references(reference: str) -> list[str] | None:
    """The references (`Genesis 17:15`) of the verses `reference` names: one verse, a range
    (`Gen 1:1-3`), a whole chapter (`Gen 17`), or several separated by `;`; None when
    nothing in it reads as a verse that exists (an unknown book, chapter 99, a blank)."""
    import pythonbible

    text = reference.strip()
    match = _BOOK_THEN_NUMBERS.match(text)
    if match and match["book"] in EXTRA_ABBREVIATIONS:
        text = f"{EXTRA_ABBREVIATIONS[match['book']]} {match['rest']}"
    if not text:
        return None
    refs = pythonbible.get_references(text)
    if not refs:
        return None
    titles = _short_titles()
    out = []
    for verse_id in pythonbible.convert_references_to_verse_ids(refs):
        book = pythonbible.Book(pythonbible.get_book_number(verse_id))
        out.append(f"{titles[book]} {pythonbible.get_chapter_number(verse_id)}:"
                   f"{pythonbible.get_verse_number(verse_id)}")
    return out or None


def bible_verse_count(books: list[str] | None) -> int | None:
    """How many verses the ASV's canon has in `books` (titled as data/raw/<corpus>.tsv
    titles them; None: all), from pythonbible's tables without reading any text; None when
    a title is unknown (the tokenize job names it)."""
    import pythonbible

    book_of = {title: book for book, title in _short_titles().items()}
    chosen = list(book_of.values()) if not books else [book_of.get(title) for title in books]
    if None in chosen:
        return None
    return sum(pythonbible.get_number_of_verses(book, chapter)
               for book in chosen
               for chapter in range(1, pythonbible.get_number_of_chapters(book) + 1))

"""A positive control: facts no model has seen, and the questions about them.

Knowledge injection is measured on text the model may already know (the study's Bible); a
control of invented facts tells "fine-tuning cannot teach this model anything" from "it
cannot teach what it already knew". Following Allen-Zhu and Li (Physics of Language Models
3.1), the facts are biographies of people who never existed, each fact written in one or
several phrasings (`paraphrases`: the knob they found decides whether the facts can be
extracted after training).

Everything is drawn by Faker (en_US), seeded: `count` people, each with a name, a birth city
(an invented town name), a birth year, an occupation and an employer (an invented company).
One training example is one biography of one person in one phrasing (its four sentences,
each attribute in that phrasing's sentence); a person has `paraphrases` examples, all with
the reference `person-<n>`, so retrieval counts any of them as the gold passage. The
questions (one per fact, four per person) use a wording that no phrasing uses, and their
answers are the exact values written in every phrasing.

The same (seed, count) gives the same people whatever `paraphrases` is, so settings that
vary only the phrasings are asked the same questions. The output depends on Faker's version
(pinned in requirements.txt).
"""

from __future__ import annotations

from dataclasses import dataclass

# Per attribute: its phrasings, in the order `paraphrases` takes them (1 = the first only).
PHRASINGS = {
    "birth_city": (
        "{name} was born in {value}.",
        "{name}'s birthplace is {value}.",
        "{name} came into the world in {value}.",
        "The town of {value} is where {name} was born.",
        "{name} first saw the light of day in {value}.",
    ),
    "birth_year": (
        "{name} was born in the year {value}.",
        "{name}'s year of birth is {value}.",
        "{value} is the year in which {name} came into the world.",
        "The records give {value} as the year {name} was born.",
        "{name} first saw the light of day in {value}, the year of birth.",
    ),
    "occupation": (
        "{name} worked as {article} {value}.",
        "By trade, {name} was {article} {value}.",
        "{name} earned a living as {article} {value}.",
        "The profession of {name} was that of {article} {value}.",
        "For many years {name} made a living as {article} {value}.",
    ),
    "employer": (
        "{name} was employed by {value}.",
        "{name}'s employer was {value}.",
        "{value} paid {name} a salary.",
        "The company {name} worked for was {value}.",
        "{name} drew a wage from {value}.",
    ),
}
# A wording no phrasing uses, so a right answer is recall, not a copied sentence.
QUESTIONS = {
    "birth_city": "In which city was {name} born?",
    "birth_year": "In what year was {name} born?",
    "occupation": "What did {name} do for a living?",
    "employer": "Which company employed {name}?",
}
ATTRIBUTES = tuple(PHRASINGS)
MAX_PARAPHRASES = min(len(p) for p in PHRASINGS.values())
LOCALE = "en_US"


@dataclass(frozen=True)
class Person:
    reference: str            # person-<n>, n from 1
    name: str
    facts: dict               # attribute -> value, as written in every phrasing


def _simple_job(job: str) -> bool:
    """A job answerable as written: one to three words, no comma, slash or brackets."""
    return not any(c in job for c in ",/()") and 1 <= len(job.split()) <= 3


def people(seed: int, count: int) -> list[Person]:
    """`count` invented people with distinct names, drawn by Faker seeded with `seed`."""
    from faker import Faker

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    fake = Faker(LOCALE)
    fake.seed_instance(seed)
    out, names = [], set()
    while len(out) < count:
        name = f"{fake.first_name()} {fake.last_name()}"
        job = fake.job()
        if name in names or not _simple_job(job):
            continue
        names.add(name)
        facts = {"birth_city": fake.city(),
                 "birth_year": str(fake.random_int(1700, 1999)),
                 "occupation": job.lower(),
                 "employer": fake.company()}
        out.append(Person(f"person-{len(out) + 1}", name, facts))
    return out


def _sentence(person: Person, attribute: str, phrasing: int) -> str:
    value = person.facts[attribute]
    article = "an" if value[:1].lower() in "aeiou" else "a"
    return PHRASINGS[attribute][phrasing].format(name=person.name, value=value, article=article)


def check_paraphrases(paraphrases: int) -> None:
    if not 1 <= paraphrases <= MAX_PARAPHRASES:
        raise ValueError(f"paraphrases must be 1 to {MAX_PARAPHRASES} (the phrasings the "
                         f"generator has), got {paraphrases}")


def examples(seed: int, count: int, paraphrases: int) -> list[dict]:
    """The corpus: `{reference, text}` per person and phrasing, person by person. Phrasing p
    writes each fact in its p-th sentence form, starting with attribute p (mod 4), so the
    phrasings differ in wording and in order."""
    check_paraphrases(paraphrases)
    out = []
    for person in people(seed, count):
        for p in range(paraphrases):
            order = ATTRIBUTES[p % len(ATTRIBUTES):] + ATTRIBUTES[:p % len(ATTRIBUTES)]
            out.append({"reference": person.reference,
                        "text": " ".join(_sentence(person, a, p) for a in order)})
    return out


def questions(seed: int, count: int) -> list[dict]:
    """The question records (as question_records writes them): `{id, position, question,
    answer, reference}`, four per person in ATTRIBUTES order, ids from 1."""
    records = []
    for person in people(seed, count):
        for attribute in ATTRIBUTES:
            n = len(records) + 1
            records.append({"id": n, "position": n,
                            "question": QUESTIONS[attribute].format(name=person.name),
                            "answer": person.facts[attribute], "reference": person.reference})
    return records


def _words(text: str) -> set[str]:
    return {w.strip(".,?'").lower() for w in text.replace("'s ", " ").split()} - {""}


def question_overlap(seed: int, count: int, paraphrases: int) -> dict[str, float]:
    """Per attribute, the share of a question's words (its person's name left out) that
    its person's examples hold anywhere, averaged over the people: how far a question could
    be answered by matching its words rather than by knowing the fact (docs/workflow.md)."""
    by_reference: dict[str, set[str]] = {}
    for example in examples(seed, count, paraphrases):
        by_reference.setdefault(example["reference"], set()).update(_words(example["text"]))
    shares: dict[str, list[float]] = {a: [] for a in ATTRIBUTES}
    for person in people(seed, count):
        for attribute in ATTRIBUTES:
            asked = _words(QUESTIONS[attribute].format(name=""))
            shares[attribute].append(len(asked & by_reference[person.reference]) / len(asked))
    return {a: round(100 * sum(s) / len(s), 1) for a, s in shares.items()}

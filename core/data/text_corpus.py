"""English sentences for the speech corpus, and how well they cover the phones.

Sentences come from two offline sources that ship with this module (core/data/text/):
- `composed_sentences.txt`: phonetically rich sentences written for this project (rare phones such as ZH, OY, UH);
- a sentence grammar over `grammar_vocabulary.json`: statements, questions, exclamations, requests, numbers,
  conditionals and compound clauses, with verbs paired to objects they make sense with.
No Debian text package is needed, so a seed gives the same sentences on every machine.

Phones are looked up in Festival's CMU lexicon (Debian `festlex-cmu`, installed with festival); words it lacks go
through flite's `t2p` letter-to-sound rules. `coverage_report` counts the 39 ARPAbet phones and the diphones.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from core.data.phonemes import ARPABET, SILENCE, normalize_arpabet

TEXT_DIR = Path(__file__).with_name("text")
CMU_LEXICON_PATH = Path("/usr/share/festival/dicts/cmu/cmudict-0.4.out")
MIN_WORDS, MAX_WORDS = 4, 18
# A diphone is "common" when it occurs inside at least this many CMU dictionary words.
COMMON_DIPHONE_MIN_WORDS = 50

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_PAUSE_PUNCTUATION = re.compile(r"[,;:.!?]")


# ---------------------------------------------------------------- sentences


@functools.cache
def composed_sentences() -> tuple[str, ...]:
    """The hand-written phonetically rich sentences, in file order."""
    lines = (TEXT_DIR / "composed_sentences.txt").read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


@functools.cache
def _vocabulary() -> dict:
    return json.loads((TEXT_DIR / "grammar_vocabulary.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class _Verb:
    base: str
    past: str
    ing: str
    third: str
    takes: str = ""

    @classmethod
    def parse(cls, forms: str, takes: str = "") -> _Verb:
        base, past, ing, third = forms.split("|")
        return cls(base, past, ing, third, takes)


def number_words(n: int) -> str:
    """0 <= n < 10000 as English words: 47 -> 'forty seven', 1305 -> 'one thousand three hundred five'."""
    ones = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()  # noqa: E501
    tens = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
    if not 0 <= n < 10000:
        raise ValueError(f"number_words handles 0..9999, got {n}")
    if n < 20:
        return ones[n]
    if n < 100:
        return tens[n // 10] + ("" if n % 10 == 0 else " " + ones[n % 10])
    if n < 1000:
        return ones[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def _year_words(year: int) -> str:
    """1984 -> 'nineteen eighty four', 2005 -> 'two thousand five', 1900 -> 'nineteen hundred'."""
    if 2000 <= year < 2010:
        return number_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return number_words(high) + " hundred"
    return number_words(high) + " " + (("oh " + number_words(low)) if low < 10 else number_words(low))


class _SentenceGrammar:
    """Draws one sentence at a time from templates whose slots are filled from the vocabulary."""

    def __init__(self) -> None:
        v = _vocabulary()
        self.vocab = v
        self.verbs = [_Verb.parse(e["forms"], e["takes"]) for e in v["verbs"]]
        self.intransitive = [_Verb.parse(f) for f in v["intransitive_verbs"]]
        self.nouns = [
            o.split(" ", 1)[1] for objs in v["objects"].values() for o in objs if o.startswith(("the ", "a ", "his "))
        ]
        self.templates: list[tuple[int, Callable[[random.Random], str]]] = self._templates()
        self._weights = [w for w, _ in self.templates]

    def sentence(self, rng: random.Random) -> str:
        (_, template) = rng.choices(self.templates, weights=self._weights, k=1)[0]
        return _tidy(template(rng))

    # slot helpers ------------------------------------------------------------
    def subject(self, rng: random.Random) -> str:
        return rng.choice(self.vocab["names"]) if rng.random() < 0.4 else rng.choice(self.vocab["people"])

    def verb_and_object(self, rng: random.Random) -> tuple[_Verb, str]:
        verb = rng.choice(self.verbs)
        return verb, rng.choice(self.vocab["objects"][verb.takes])

    def pick(self, rng: random.Random, key: str) -> str:
        return rng.choice(self.vocab[key])

    def _templates(self) -> list[tuple[int, Callable[[random.Random], str]]]:
        s, vo, p = self.subject, self.verb_and_object, self.pick

        def statement_past(r):
            v, o = vo(r)
            adjuncts = r.choice([[p(r, "places")], [p(r, "past_times")], [p(r, "places"), p(r, "past_times")]])
            return f"{s(r)} {v.past} {o} {' '.join(adjuncts)}."

        def statement_progressive(r):
            v, o = vo(r)
            return f"{s(r)} is {v.ing} {o} {p(r, 'places')} right now."

        def statement_habit(r):
            v, o = vo(r)
            return f"{s(r)} usually {v.third} {o} {p(r, 'habit_times')}."

        def statement_future(r):
            v, o = vo(r)
            return f"{s(r)} will {v.base} {o} {p(r, 'future_times')}."

        def statement_manner(r):
            i = r.choice(self.intransitive)
            return f"{s(r)} {i.past} {p(r, 'manner_adverbs')} {p(r, 'places')}."

        def statement_feeling(r):
            v, o = vo(r)
            return f"{s(r)} was {p(r, 'feelings')} because {s(r)} {v.past} {o}."

        def compound_but(r):
            v1, o1 = vo(r)
            v2, o2 = vo(r)
            return f"{s(r)} {v1.past} {o1}, but {s(r)} {v2.past} {o2}."

        def reported(r):
            v, o = vo(r)
            lead = r.choice(["I think", "She said that", "They told me that", "I heard that", "He believes"])
            return f"{lead} {s(r)} {v.past} {o} {p(r, 'past_times')}."

        def question_did(r):
            v, o = vo(r)
            return f"Did {s(r)} {v.base} {o} {p(r, 'places')}?"

        def question_why(r):
            v, o = vo(r)
            return f"Why did {s(r)} {v.base} {o} {p(r, 'past_times')}?"

        def question_where(r):
            _, o = vo(r)
            return f"Where did you put {o}?"

        def question_can(r):
            v, o = vo(r)
            return f"Can you {v.base} {o} before {p(r, 'deadlines')}?"

        def question_feeling(r):
            return f"Why is {s(r)} so {p(r, 'feelings')} {p(r, 'past_times')}?"

        def question_count(r):
            return f"How many {p(r, 'countables')} are in the {p(r, 'containers')}?"

        def question_is(r):
            _, o = vo(r)
            return f"Is {o} {p(r, 'degree_adverbs')} {p(r, 'adjectives')}?"

        def question_rather(r):
            return f"Would you rather {p(r, 'activities')} or {p(r, 'activities')}?"

        def request(r):
            v, o = vo(r)
            return f"Please {v.base} {o} {r.choice([p(r, 'places'), p(r, 'future_times')])}."

        def request_negative(r):
            v, o = vo(r)
            return f"Please do not {v.base} {o} {p(r, 'future_times')}."

        def exclamation_what(r):
            return f"What a {p(r, 'adjectives')} {r.choice(self.nouns)} that was!"

        def exclamation_interjection(r):
            _, o = vo(r)
            return f"{p(r, 'interjections')}, {o} is {p(r, 'degree_adverbs')} {p(r, 'adjectives')}!"

        def exclamation_cannot_believe(r):
            v, o = vo(r)
            return f"I cannot believe {s(r)} {v.past} {o}!"

        def numbers_bought(r):
            return (
                f"{s(r)} bought {number_words(r.randint(2, 99))} {p(r, 'countables')} "
                f"for {number_words(r.randint(3, 950))} dollars."
            )

        def numbers_inside(r):
            return f"There are {number_words(r.randint(2, 60))} {p(r, 'countables')} in the {p(r, 'containers')}."

        def numbers_price(r):
            noun = r.choice(self.nouns)
            return f"The {noun} costs {number_words(r.randint(1, 400))} dollars and {number_words(r.randint(1, 99))} cents."

        def numbers_year(r):
            return f"{s(r)} was born in {_year_words(r.randint(1921, 2009))}."

        def numbers_clock(r):
            v, o = vo(r)
            return f"At {p(r, 'clock_times')}, {s(r)} {v.past} {o}."

        def numbers_phone(r):
            digits = " ".join(number_words(r.randint(0, 9)) for _ in range(r.choice([4, 5, 7])))
            return f"The code for the {p(r, 'containers')} is {digits}."

        def conditional(r):
            return f"If it {p(r, 'weather')} {p(r, 'future_times')}, we will {p(r, 'activities')}."

        def plan(r):
            return f"We should {p(r, 'activities')} {p(r, 'future_times')}."

        def description(r):
            return f"The {p(r, 'adjectives')} {r.choice(self.nouns)} is {p(r, 'places')}."

        def tell(r):
            v, o = vo(r)
            return f"Tell {s(r)} that {s(r)} {v.past} {o}."

        def ask_whether(r):
            v, o = vo(r)
            return f"{s(r)} asked whether {s(r)} could {v.base} {o}."

        return [
            (8, statement_past), (4, statement_progressive), (3, statement_habit), (4, statement_future),
            (3, statement_manner), (3, statement_feeling), (3, compound_but), (3, reported), (4, question_did),
            (3, question_why), (2, question_where), (3, question_can), (2, question_feeling), (1, question_count),
            (2, question_is), (2, question_rather), (3, request), (2, request_negative), (2, exclamation_what),
            (3, exclamation_interjection), (2, exclamation_cannot_believe), (2, numbers_bought),
            (1, numbers_inside), (1, numbers_price), (1, numbers_year), (2, numbers_clock), (1, numbers_phone),
            (2, conditional), (2, plan), (2, description), (2, tell), (2, ask_whether),
        ]  # fmt: skip


def _tidy(sentence: str) -> str:
    sentence = re.sub(r"\ba ([aeiouAEIOU])", r"an \1", sentence)  # 'a unusual' -> 'an unusual'
    sentence = re.sub(r"\s+", " ", sentence).strip()
    return sentence[0].upper() + sentence[1:]


def word_count(sentence: str) -> int:
    return len(_WORD.findall(sentence.lower()))


def build_sentences(count: int, seed: int) -> list[str]:
    """`count` distinct English sentences of 4-18 words, the same list for the same (count, seed).

    About one in eight is a composed phonetically rich sentence (all of them once count is large enough), the
    rest come from the grammar; the order is shuffled by the seed.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = random.Random(f"text_corpus:{seed}")
    composed = list(composed_sentences())
    rng.shuffle(composed)
    chosen = composed[: min(len(composed), max(1, count // 8))] if count else []
    seen = set(chosen)
    grammar = _SentenceGrammar()
    attempts = 0
    while len(chosen) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise RuntimeError(f"the grammar could not make {count} distinct sentences; add vocabulary")
        sentence = grammar.sentence(rng)
        if sentence in seen or not MIN_WORDS <= word_count(sentence) <= MAX_WORDS:
            continue
        seen.add(sentence)
        chosen.append(sentence)
    rng.shuffle(chosen)
    return chosen


def split_sentences(sentences: list[str], heldout_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, heldout): a fixed held-out set, chosen by a hash of (seed, sentence) so a sentence's side does not
    depend on the rest of the list. Holds out round(fraction * n) sentences (at least one when fraction > 0 and
    there are two or more); both lists keep the input order."""
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    unique = list(dict.fromkeys(sentences))
    n_heldout = round(heldout_fraction * len(unique))
    if heldout_fraction > 0 and len(unique) >= 2:
        n_heldout = max(1, n_heldout)

    def rank(sentence: str) -> str:
        return hashlib.sha256(f"{seed}\x00{sentence}".encode()).hexdigest()

    heldout = set(sorted(unique, key=rank)[:n_heldout])
    return [s for s in sentences if s not in heldout], [s for s in sentences if s in heldout]


# ---------------------------------------------------------------- phones


def sentence_words(sentence: str) -> list[str]:
    """Lower-case words, punctuation dropped, hyphenated words split ('ice-cream' -> ['ice', 'cream'])."""
    return _WORD.findall(sentence.lower().replace("\u2019", "'").replace("-", " "))


class PronouncingLexicon:
    """Word -> ARPAbet phones: Festival's CMU lexicon first, flite's `t2p` letter-to-sound for the rest."""

    _ENTRY = re.compile(r'^\("((?:[^"\\]|\\.)*)" \S+ (.*)\)$', re.M)
    _PHONE = re.compile(r"[a-z]+")

    def __init__(self, lexicon_path: Path = CMU_LEXICON_PATH) -> None:
        self._raw: dict[str, str] = {}
        if lexicon_path.exists():
            text = lexicon_path.read_text(encoding="latin-1")
            for m in self._ENTRY.finditer(text):
                self._raw.setdefault(m.group(1), m.group(2))  # first entry = the most common reading
        self._t2p = shutil.which("t2p")
        if not self._raw and not self._t2p:
            raise RuntimeError(
                f"No pronunciation source: {lexicon_path} (Debian festlex-cmu) and flite's t2p are both missing; "
                "run `make system-deps`."
            )
        self._cache: dict[str, list[str]] = {}

    def __contains__(self, word: str) -> bool:
        return word.lower() in self._raw

    def pronounce(self, word: str) -> list[str]:
        word = word.lower()
        if word not in self._cache:
            raw = self._raw.get(word)
            phones = self._PHONE.findall(raw) if raw is not None else self._letter_to_sound(word)
            self._cache[word] = [normalize_arpabet(p) for p in phones]
        return self._cache[word]

    def _letter_to_sound(self, word: str) -> list[str]:
        if not self._t2p:
            raise RuntimeError(
                f"'{word}' is not in the CMU lexicon and flite's t2p is missing; run `make system-deps`."
            )
        # argument list, no shell: the word cannot inject anything
        out = subprocess.run([self._t2p, word], capture_output=True, text=True, timeout=30, check=True).stdout
        return [p for p in out.split() if normalize_arpabet(p) != SILENCE]

    def word_internal_diphones(self) -> Counter:
        """How many lexicon words contain each diphone (the reference for 'common' diphones)."""
        counts: Counter = Counter()
        for raw in self._raw.values():
            phones = [normalize_arpabet(p) for p in self._PHONE.findall(raw)]
            counts.update(set(zip(phones, phones[1:], strict=False)))
        return counts


@functools.cache
def default_lexicon() -> PronouncingLexicon:
    return PronouncingLexicon()


def sentence_phones(sentence: str, lexicon: PronouncingLexicon | None = None) -> list[str]:
    """ARPAbet phones of a sentence as spoken, with SIL at both ends and at , ; : . ! ? pauses."""
    lexicon = lexicon or default_lexicon()
    phones = [SILENCE]
    for chunk in _PAUSE_PUNCTUATION.split(sentence):
        words = sentence_words(chunk)
        if not words:
            continue
        for word in words:
            phones.extend(lexicon.pronounce(word))
        phones.append(SILENCE)
    return phones


def phones_for_sentences(sentences: Iterable[str]) -> list[list[str]]:
    lexicon = default_lexicon()
    return [sentence_phones(s, lexicon) for s in sentences]


@functools.cache
def common_diphones() -> frozenset[tuple[str, str]]:
    """Diphones found inside at least COMMON_DIPHONE_MIN_WORDS words of the CMU lexicon."""
    counts = default_lexicon().word_internal_diphones()
    return frozenset(d for d, c in counts.items() if c >= COMMON_DIPHONE_MIN_WORDS)


def coverage_report(sentences: Iterable[str]) -> dict:
    """Phone and diphone coverage of a sentence list (JSON-ready).

    Keys: sentences, words, phones (count of non-silence phones), phone_counts (all 39 ARPAbet phones, zeros
    included), missing_phones, diphone_types (distinct phone pairs seen, silence excluded), common_diphones
    (size of the lexicon-based reference), common_diphones_covered, common_diphone_coverage (fraction),
    missing_common_diphones (the first 30, as 'A-B').
    """
    sentences = list(sentences)
    phone_counts: Counter = Counter({p: 0 for p in ARPABET})
    diphones: Counter = Counter()
    n_words = 0
    for sentence, phones in zip(sentences, phones_for_sentences(sentences), strict=True):
        n_words += len(sentence_words(sentence))
        phone_counts.update(p for p in phones if p != SILENCE)
        diphones.update((a, b) for a, b in zip(phones, phones[1:], strict=False) if SILENCE not in (a, b))
    reference = common_diphones()
    covered = reference & diphones.keys()
    return {
        "sentences": len(sentences),
        "words": n_words,
        "phones": sum(phone_counts.values()),
        "phone_counts": {p: phone_counts[p] for p in ARPABET},
        "missing_phones": [p for p in ARPABET if phone_counts[p] == 0],
        "diphone_types": len(diphones),
        "common_diphones": len(reference),
        "common_diphones_covered": len(covered),
        "common_diphone_coverage": round(len(covered) / max(1, len(reference)), 4),
        "missing_common_diphones": [f"{a}-{b}" for a, b in sorted(reference - covered)][:30],
    }

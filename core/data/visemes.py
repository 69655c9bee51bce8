"""Visemes: what each ARPAbet phone asks of the lips, jaw and tongue, and how strongly it insists.

Targets live in a small articulatory space (ARTICULATORS), not in ARKit channels: coarticulation blends
articulator tracks (core.data.coarticulation), and core.data.face_targets renders them into ARKit weights
for one speaker. Each phone has, per articulator, a target value and a dominance (Cohen & Massaro 1993):
a bilabial insists on the lip seal (dominance 3) but hardly cares about rounding (0.06), so the rounding of
a following /uw/ spreads over it, while it still closes the lips. Diphthongs are two visemes in sequence.

Articulators (all 0 at rest, roughly 0..1):
  jaw        jaw opening, in jawOpen units before the speaker's jaw range (AA ~0.42, IY ~0.1)
  lip_part   lips parted beyond the jaw (lower lip down, upper lip up): open vowels, sibilants
  seal       lips touching (1 = sealed whatever the jaw does; ARKit mouthClose = seal * jawOpen)
  press      lips pressed together (P/B build-up)
  round      pucker (UW, W, OW)
  funnel     lips protruded and open (SH, CH, ER, OW, AO)
  spread     corners drawn back (IY, EY, IH, S)
  upper_lip  upper lip raised (F/V teeth show, SH flare)
  tuck       lower lip rolled in under the upper teeth (F/V)
  tongue     tongue tip visible between the teeth (TH/DH)
  puff       cheeks inflated by the air pressure behind a bilabial plosive
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.phonemes import ARPABET, SILENCE, normalize_arpabet

ARTICULATORS: tuple[str, ...] = (
    "jaw", "lip_part", "seal", "press", "round", "funnel", "spread", "upper_lip", "tuck", "tongue", "puff",
)  # fmt: skip
NUM_ARTICULATORS = len(ARTICULATORS)
ART = {name: i for i, name in enumerate(ARTICULATORS)}

# How fast each articulator's dominance decays away from a phone, per second: (anticipatory, carry-over).
# Lip rounding is slow and anticipates far across consonants; the seal and the tongue are quick and local.
DOMINANCE_DECAY_PER_S: dict[str, tuple[float, float]] = {
    "jaw": (16.0, 18.0),
    "lip_part": (18.0, 20.0),
    "seal": (45.0, 45.0),
    "press": (30.0, 30.0),
    "round": (9.0, 13.0),
    "funnel": (11.0, 15.0),
    "spread": (14.0, 16.0),
    "upper_lip": (18.0, 18.0),
    "tuck": (22.0, 22.0),
    "tongue": (25.0, 25.0),
    "puff": (35.0, 35.0),
}


@dataclass(frozen=True)
class Viseme:
    target: np.ndarray  # (articulators,)
    dominance: np.ndarray  # (articulators,)
    share: float = 1.0  # fraction of the phone's duration (diphthongs: two visemes)


# Default dominances by phone class; a viseme overrides the articulators it cares about.
_VOWEL_DOMINANCE = dict(jaw=1.0, lip_part=0.8, seal=1.0, press=0.5, round=0.9, funnel=0.8, spread=0.6,
                        upper_lip=0.4, tuck=0.5, tongue=0.5, puff=0.5)  # fmt: skip
_CONSONANT_DOMINANCE = dict(jaw=0.35, lip_part=0.3, seal=0.4, press=0.3, round=0.06, funnel=0.06, spread=0.08,
                            upper_lip=0.15, tuck=0.4, tongue=0.4, puff=0.4)  # fmt: skip
_SILENCE_DOMINANCE = {name: 2.0 for name in ARTICULATORS}
_ROUNDED_DOMINANCE = dict(round=1.0, funnel=0.8)


def _viseme(target: dict[str, float], dominance: dict[str, float], share: float = 1.0) -> Viseme:
    t = np.zeros(NUM_ARTICULATORS)
    d = np.zeros(NUM_ARTICULATORS)
    for name, value in target.items():
        t[ART[name]] = value
    for name, value in dominance.items():
        d[ART[name]] = value
    return Viseme(t, d, share)


def _vowel(share: float = 1.0, rounded: bool = False, **target: float) -> Viseme:
    dominance = {**_VOWEL_DOMINANCE, **(_ROUNDED_DOMINANCE if rounded else {})}
    return _viseme(target, dominance, share)


def _consonant(dominance: dict[str, float] | None = None, **target: float) -> Viseme:
    return _viseme(target, {**_CONSONANT_DOMINANCE, **(dominance or {})})


_AA = dict(jaw=0.42, lip_part=0.22, spread=0.05)
_AO = dict(jaw=0.34, lip_part=0.18, round=0.35, funnel=0.35)
_EH = dict(jaw=0.26, lip_part=0.16, spread=0.25)
_IY = dict(jaw=0.10, lip_part=0.10, spread=0.55)
_UW = dict(jaw=0.10, lip_part=0.04, round=0.85, funnel=0.2)
_SIBILANT_POSTALVEOLAR = _consonant(
    dict(jaw=1.0, funnel=1.2, round=0.6, upper_lip=0.4, lip_part=0.5),
    jaw=0.08, funnel=0.55, round=0.3, upper_lip=0.2, lip_part=0.1,
)  # fmt: skip
_ALVEOLAR_STOP = _consonant(dict(jaw=0.35, lip_part=0.3), jaw=0.14, lip_part=0.08)
_VELAR = _consonant(dict(jaw=0.3, lip_part=0.2), jaw=0.16, lip_part=0.06)
_BILABIAL_DOMINANCE = dict(jaw=0.7, lip_part=1.0, seal=2.0, press=1.0, funnel=0.5, tuck=0.5)
_LABIODENTAL_DOMINANCE = dict(jaw=0.8, tuck=3.0, upper_lip=1.0, seal=1.5, lip_part=0.8)
_DENTAL_DOMINANCE = dict(jaw=0.6, tongue=2.0, seal=1.0)
_ALVEOLAR_SIBILANT = _consonant(dict(jaw=1.0, spread=0.3, lip_part=0.5, seal=1.0), jaw=0.06, spread=0.2, lip_part=0.08)

VISEMES: dict[str, tuple[Viseme, ...]] = {
    # Monophthong vowels: jaw by openness, lips by rounding/spreading.
    "AA": (_vowel(**_AA),),
    "AE": (_vowel(jaw=0.36, lip_part=0.22, spread=0.3),),
    "AH": (_vowel(jaw=0.28, lip_part=0.15, spread=0.1),),
    "AO": (_vowel(rounded=True, **_AO),),
    "EH": (_vowel(**_EH),),
    "ER": (_vowel(rounded=True, jaw=0.16, lip_part=0.10, round=0.3, funnel=0.35),),
    "IH": (_vowel(jaw=0.16, lip_part=0.12, spread=0.35),),
    "IY": (_vowel(**_IY),),
    "UH": (_vowel(rounded=True, jaw=0.16, lip_part=0.08, round=0.45, funnel=0.3),),
    "UW": (_vowel(rounded=True, **_UW),),
    # Diphthongs: an open onset gliding to a closer, rounder or more spread offglide.
    "AW": (_vowel(0.55, **{**_AA, "jaw": 0.40}),
           _vowel(0.45, rounded=True, jaw=0.14, lip_part=0.06, round=0.65, funnel=0.25)),
    "AY": (_vowel(0.55, **{**_AA, "jaw": 0.40}), _vowel(0.45, jaw=0.14, lip_part=0.1, spread=0.45)),
    "EY": (_vowel(0.55, **{**_EH, "spread": 0.3}), _vowel(0.45, **{**_IY, "jaw": 0.12, "spread": 0.5})),
    "OW": (_vowel(0.55, rounded=True, jaw=0.30, lip_part=0.14, round=0.5, funnel=0.4),
           _vowel(0.45, rounded=True, jaw=0.14, lip_part=0.05, round=0.75, funnel=0.25)),
    "OY": (_vowel(0.55, rounded=True, **_AO), _vowel(0.45, jaw=0.14, lip_part=0.1, spread=0.4)),
    # Bilabials: sealed lips whatever the context; plosives press and puff before the release.
    "P": (_consonant(_BILABIAL_DOMINANCE, jaw=0.05, seal=1.0, press=0.35, puff=0.12),),
    "B": (_consonant(_BILABIAL_DOMINANCE, jaw=0.05, seal=1.0, press=0.3, puff=0.06),),
    "M": (_consonant(_BILABIAL_DOMINANCE, jaw=0.06, seal=1.0, press=0.1),),
    # Labiodentals: lower lip tucked under the upper teeth, small jaw, upper lip slightly up; never sealed.
    "F": (_consonant(_LABIODENTAL_DOMINANCE, jaw=0.08, tuck=0.7, upper_lip=0.25, lip_part=0.03),),
    "V": (_consonant(_LABIODENTAL_DOMINANCE, jaw=0.08, tuck=0.65, upper_lip=0.22, lip_part=0.03),),
    # Dentals: tongue tip between the teeth.
    "TH": (_consonant(_DENTAL_DOMINANCE, jaw=0.12, tongue=0.35, lip_part=0.06),),
    "DH": (_consonant(_DENTAL_DOMINANCE, jaw=0.12, tongue=0.3, lip_part=0.06),),
    # Sibilants: teeth nearly together; S/Z spread slightly, postalveolars funnel.
    "S": (_ALVEOLAR_SIBILANT,),
    "Z": (_ALVEOLAR_SIBILANT,),
    "SH": (_SIBILANT_POSTALVEOLAR,),
    "ZH": (_SIBILANT_POSTALVEOLAR,),
    "CH": (_SIBILANT_POSTALVEOLAR,),
    "JH": (_SIBILANT_POSTALVEOLAR,),
    # Alveolars and velars: a small jaw opening, lips free to coarticulate.
    "T": (_ALVEOLAR_STOP,),
    "D": (_ALVEOLAR_STOP,),
    "N": (_ALVEOLAR_STOP,),
    "L": (_consonant(dict(jaw=0.35, lip_part=0.3), jaw=0.18, lip_part=0.1),),
    "K": (_VELAR,),
    "G": (_VELAR,),
    "NG": (_VELAR,),
    # Approximants.
    "R": (_consonant(dict(jaw=0.4, round=0.6, funnel=0.6), jaw=0.12, round=0.3, funnel=0.3, lip_part=0.04),),
    "W": (_consonant(dict(jaw=0.6, round=1.5, funnel=0.8, lip_part=0.6),
                     jaw=0.07, round=0.85, funnel=0.15, lip_part=0.02),),
    "Y": (_consonant(dict(jaw=0.4, spread=0.5), jaw=0.10, spread=0.35, lip_part=0.06),),
    # /h/ is shaped by the vowel after it: it barely insists on anything.
    "HH": (_viseme({}, {name: 0.03 for name in ARTICULATORS}),),
    # Silence: a relaxed, closed mouth (the speaker's rest jaw is applied when rendering).
    SILENCE: (_viseme(dict(seal=1.0), _SILENCE_DOMINANCE),),
}  # fmt: skip
assert set(VISEMES) == set(ARPABET) | {SILENCE}, "every phone needs a viseme"

LIP_SHAPE_ARTICULATORS = ("jaw", "lip_part", "round", "funnel", "spread")  # scaled by speaking-rate habits


def viseme_segments(phone: str) -> tuple[Viseme, ...]:
    """The viseme(s) of an ARPAbet phone or 'SIL' (stress digits and silence spellings normalised)."""
    return VISEMES[normalize_arpabet(phone)]

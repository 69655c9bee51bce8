"""The bundled demo clip (`core/assets/demo/demo_line.wav` + `.npz`) and which of its frames a preview shows.

The clip is festival speech (never Piper: it is GPL-3 and must not ship) with the corpus generator's own face
targets; `python -m diffusiontalker_addon demo --make-clip` regenerates it with core/data/demo_clip_generation.py
(data generation, kept apart so the runtime, which imports this module, never reaches the TTS wrappers). The Blender
side of the demo (building, animating, saving and rendering the scene) is diffusiontalker_addon/demo.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.phonemes import BILABIALS, OPEN_VOWELS, SILENCE

DEMO_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "demo"
DEMO_CLIP_STEM = "demo_line"
DEMO_TEXT = "Bob bought a big map, and my mom opened a box of apples, bananas and plums."
DEMO_VOICE = "festival_slt_hts"  # festival's CMU ARCTIC slt HTS voice (EST licence, redistributable)
DEMO_EMOTION = "neutral"
DEMO_SEED = 0
DEMO_FPS = 30
SHOWN_VOWELS = tuple(v for v in OPEN_VOWELS if v != "AH")  # the schwa (AH) is open only in stressed syllables


def demo_clip_paths(folder: Path = DEMO_ASSETS) -> tuple[Path, Path]:
    """(wav, npz) of the bundled demo clip."""
    return folder / f"{DEMO_CLIP_STEM}.wav", folder / f"{DEMO_CLIP_STEM}.npz"


# ---------------------------------------------------------------- which frames to show


def marked_phone_frames(clip_npz: Path, weights: np.ndarray, start_frame: int, count: int) -> list[tuple[int, str]]:
    """(scene frame, phone label) for the contact sheet: the rest pose, then bilabials and open vowels.

    Within each phone (widened by 100 ms ahead: faces lead the audio) the frame shown is where the lips are most
    closed (P/B/M) or most open (vowels) in the *written* animation, so the sheet shows what was animated.
    `weights` is the animation sampled at scene frames (frames, 52) from `start_frame`.
    """
    from core.rig.lip_measures import lip_aperture

    with np.load(clip_npz, allow_pickle=False) as data:
        phones = [str(p) for p in data["phones"]]
        times = np.asarray(data["phone_times"], dtype=np.float64)
    aperture = lip_aperture(weights)  # (frames,)
    frame_times = np.arange(len(aperture)) / DEMO_FPS

    def best_frame(start: float, end: float, closed: bool) -> int:
        inside = np.flatnonzero((frame_times >= start - 0.1) & (frame_times <= end))
        if len(inside) == 0:
            inside = np.array([min(int(round(start * DEMO_FPS)), len(aperture) - 1)])
        pick = inside[np.argmin(aperture[inside])] if closed else inside[np.argmax(aperture[inside])]
        return int(pick)

    bilabials = [(best_frame(s, e, True), p) for p, (s, e) in zip(phones, times, strict=True) if p in BILABIALS]
    vowels = [(best_frame(s, e, False), p) for p, (s, e) in zip(phones, times, strict=True) if p in SHOWN_VOWELS]
    rest = [(0, "rest")] if phones and phones[0] == SILENCE else []
    budget = max(0, count - len(rest))
    chosen = _evenly(bilabials, (budget + 1) // 2) + _evenly(vowels, budget // 2)
    unique = dict(sorted(rest + chosen))  # one label per frame
    return [(start_frame + frame, label) for frame, label in unique.items()]


def _evenly(items: list, count: int) -> list:
    if len(items) <= count:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def extreme_lip_frames(weights: np.ndarray, start_frame: int, count: int) -> list[tuple[int, str]]:
    """(scene frame, label) for a take without phone timings: the first frame, then in each of `count - 1` equal
    stretches of the take its most closed or (alternately) most open frame by lip aperture."""
    from core.rig.lip_measures import lip_aperture

    aperture = lip_aperture(weights)  # (frames,)
    marked = [(0, "start")]
    edges = np.linspace(1, len(aperture), max(count, 2)).astype(int)
    for index, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        if hi <= lo:
            continue
        closed = index % 2 == 0
        pick = lo + int(np.argmin(aperture[lo:hi]) if closed else np.argmax(aperture[lo:hi]))
        marked.append((pick, f"{'closed' if closed else 'open'} {pick / DEMO_FPS:.2f}s"))
    return [(start_frame + frame, label) for frame, label in marked]

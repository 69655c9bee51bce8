"""`python -m core data stats DIR`: what a corpus (or any folder of clips) contains."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from core.data.phonemes import ARPABET, SILENCE


def corpus_stats(corpus_dir: Path) -> dict:
    """Hours, clips, speakers, emotions, phone and diphone coverage of every clip (*.npz) under the folder."""
    corpus_dir = Path(corpus_dir)
    npzs = sorted(corpus_dir.rglob("*.npz"))
    npzs = [p for p in npzs if p.name != "motion_basis.npz"]
    if not npzs:
        raise FileNotFoundError(
            f"no clips (*.npz) under {corpus_dir}; generate one with `python -m core data generate`"
        )
    speakers: Counter[str] = Counter()
    emotions: Counter[str] = Counter()
    phones: Counter[str] = Counter()
    diphones: Counter[tuple[str, str]] = Counter()
    seconds = 0.0
    frames = 0
    for path in npzs:
        with np.load(path, allow_pickle=False) as z:
            speakers[str(z["speaker"])] += 1
            emotions[str(z["emotion"])] += 1
            seq = [str(p) for p in z["phones"]]
            frames += int(z["weights"].shape[0])
            fps = float(z["fps"])
        wav = path.with_suffix(".wav")
        seconds += sf.info(wav).duration if wav.exists() else z["weights"].shape[0] / fps
        speech = [p for p in seq if p != SILENCE]
        phones.update(speech)
        diphones.update(zip(speech, speech[1:], strict=False))
    covered = [p for p in ARPABET if phones[p] > 0]
    stats = {
        "clips": len(npzs),
        "hours": round(seconds / 3600, 3),
        "minutes": round(seconds / 60, 2),
        "frames": frames,
        "speakers": dict(sorted(speakers.items())),
        "emotions": dict(sorted(emotions.items())),
        "phone_coverage": f"{len(covered)}/{len(ARPABET)}",
        "missing_phones": [p for p in ARPABET if phones[p] == 0],
        "phone_counts": {p: phones[p] for p in ARPABET},
        "distinct_diphones": len(diphones),
        "possible_diphones": len(ARPABET) ** 2,
    }
    manifest = corpus_dir / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        stats["generator_version"] = m.get("generator_version")
        stats["content_hash"] = m.get("content_hash")
        stats["generation_seconds"] = m.get("generation_seconds")
    splits = corpus_dir / "splits.json"
    if splits.exists():
        s = json.loads(splits.read_text())
        stats["splits"] = {k: len(v) for k, v in s.items() if isinstance(v, list) and k != "heldout_voices_names"}
        stats["heldout_voices"] = s.get("heldout_voices_names", [])
    return stats


def format_stats(stats: dict) -> str:
    top = sorted(stats["phone_counts"].items(), key=lambda kv: kv[1])
    lines = [
        f"clips: {stats['clips']}   audio: {stats['hours']:.2f} h ({stats['minutes']:.1f} min)   frames: {stats['frames']}",
        f"speakers ({len(stats['speakers'])}): " + ", ".join(f"{k}={v}" for k, v in stats["speakers"].items()),
        f"emotions ({len(stats['emotions'])}): " + ", ".join(f"{k}={v}" for k, v in stats["emotions"].items()),
        f"phone coverage: {stats['phone_coverage']}"
        + (f" (missing {stats['missing_phones']})" if stats["missing_phones"] else ""),
        "rarest phones: " + ", ".join(f"{p}={n}" for p, n in top[:6]),
        f"diphones: {stats['distinct_diphones']} distinct of {stats['possible_diphones']} possible",
    ]
    if "splits" in stats:
        lines.append(
            "splits: "
            + ", ".join(f"{k}={v}" for k, v in stats["splits"].items())
            + f"; held-out voices: {stats['heldout_voices']}"
        )
    if stats.get("content_hash"):
        lines.append(
            f"generator {stats['generator_version']}, content hash {stats['content_hash'][:16]}..., made in {stats['generation_seconds']} s"
        )
    return "\n".join(lines)

"""`python -m core data preview CLIP.npz --out PNG`: a clip's key curves over its phone track, at a glance.

Panels, on one time axis (seconds): the waveform with its f0 and pitch accents; jaw, lip seal and lip
aperture with the bilabials shaded (closure should touch zero inside each shaded span); lip shape
(pucker, funnel, smile, stretch, lower-lip roll); eyes and brows (blinks, brow raise/lower, squint/wide);
and the phone track, bilabials in red, pauses in grey. Drawn with matplotlib's object API (no pyplot
state), so it is safe inside other programs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.clip import SAMPLE_RATE, load_clip
from core.data.phonemes import BILABIALS, SILENCE
from core.rig.arkit import channel_index
from core.rig.lip_measures import LIPS_CLOSED_APERTURE, lip_aperture

_BILABIAL_COLOUR = "#d62728"
_SHADE = "#d6272822"


def _curve(weights: np.ndarray, *names: str) -> np.ndarray:
    """Mean of the named channels (a Left/Right pair plots as one curve)."""
    return weights[:, [channel_index(n) for n in names]].mean(axis=1)


def plot_clip(npz_path: Path | str, out_png: Path | str) -> Path:
    """Render the preview of a saved clip (core.data.clip format) to a PNG. Returns the PNG path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from core.audio_pitch import find_pitch_accents, track_f0

    clip = load_clip(npz_path)
    w = clip.weights
    t = np.arange(clip.num_frames) / clip.fps
    end = max(clip.duration, t[-1] if t.size else 0.0)
    width = float(np.clip(2.4 * end, 12.0, 60.0))
    fig = Figure(figsize=(width, 11.5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(5, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1.6, 1.4, 1.4, 0.55], "hspace": 0.08})
    audio_ax, lips_ax, shape_ax, eyes_ax, phone_ax = axes
    title = f"{Path(npz_path).stem}   speaker: {clip.speaker}   emotion: {clip.emotion}   {clip.fps:g} fps"
    if clip.text:
        title += f"\n\u201c{clip.text}\u201d"
    fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(top=0.93 if clip.text else 0.95)

    # Audio and pitch.
    if clip.audio is not None and clip.audio.size:
        ta = np.arange(clip.audio.size) / SAMPLE_RATE
        audio_ax.plot(ta, clip.audio, color="0.6", lw=0.4)
        track = track_f0(clip.audio, SAMPLE_RATE)
        f0_ax = audio_ax.twinx()
        voiced = track.voiced
        f0_ax.plot(track.times[voiced], track.f0_hz[voiced], ".", ms=2.5, color="tab:orange", label="f0 (Hz)")
        for acc in find_pitch_accents(track):
            f0_ax.axvline(acc.time, color="tab:orange", lw=0.8, ls=":")
        if voiced.any():
            lo, hi = np.percentile(track.f0_hz[voiced], [2, 98])
            f0_ax.set_ylim(0.8 * lo, 1.15 * hi)
        f0_ax.set_ylabel("f0 (Hz), accents :", color="tab:orange", fontsize=8)
        f0_ax.tick_params(labelsize=7)
    else:
        audio_ax.text(0.5, 0.5, "no audio", transform=audio_ax.transAxes, ha="center", va="center", color="0.5")
    audio_ax.set_ylabel("waveform", fontsize=8)

    # Lips: jaw, seal, aperture.
    aperture = lip_aperture(w)
    lips_ax.plot(t, _curve(w, "jawOpen"), color="tab:blue", lw=1.2, label="jawOpen")
    lips_ax.plot(t, _curve(w, "mouthClose"), color="tab:purple", lw=1.0, ls="--", label="mouthClose (seal)")
    lips_ax.plot(t, aperture, color="black", lw=2.0, label="lip aperture")
    lips_ax.axhline(LIPS_CLOSED_APERTURE, color="0.4", lw=0.6, ls=":", label="closed below")
    shape_ax.plot(t, _curve(w, "mouthPucker"), lw=1.2, label="mouthPucker")
    shape_ax.plot(t, _curve(w, "mouthFunnel"), lw=1.2, label="mouthFunnel")
    shape_ax.plot(t, _curve(w, "mouthSmileLeft", "mouthSmileRight"), lw=1.2, label="mouthSmile L/R")
    shape_ax.plot(t, _curve(w, "mouthStretchLeft", "mouthStretchRight"), lw=1.0, label="mouthStretch L/R")
    shape_ax.plot(t, _curve(w, "mouthRollLower"), lw=1.0, label="mouthRollLower (F/V)")
    shape_ax.plot(t, _curve(w, "mouthFrownLeft", "mouthFrownRight"), lw=1.0, ls="--", label="mouthFrown L/R")
    eyes_ax.plot(t, _curve(w, "eyeBlinkLeft", "eyeBlinkRight"), color="0.25", lw=1.0, label="eyeBlink L/R")
    eyes_ax.plot(t, _curve(w, "browInnerUp"), lw=1.3, label="browInnerUp")
    eyes_ax.plot(t, _curve(w, "browOuterUpLeft", "browOuterUpRight"), lw=1.0, label="browOuterUp L/R")
    eyes_ax.plot(t, _curve(w, "browDownLeft", "browDownRight"), lw=1.0, label="browDown L/R")
    eyes_ax.plot(t, _curve(w, "eyeSquintLeft", "eyeSquintRight"), lw=0.9, ls="--", label="eyeSquint L/R")
    eyes_ax.plot(t, _curve(w, "eyeWideLeft", "eyeWideRight"), lw=0.9, ls="--", label="eyeWide L/R")
    gaze = _curve(w, "eyeLookOutLeft", "eyeLookInRight") - _curve(w, "eyeLookInLeft", "eyeLookOutRight")
    eyes_ax.plot(t, gaze, lw=0.7, color="tab:gray", ls="-.", label="gaze left(+)/right(-)")
    for ax, name in ((lips_ax, "jaw & lips"), (shape_ax, "lip shape"), (eyes_ax, "eyes & brows")):
        ax.set_ylabel(name, fontsize=9)
        ax.legend(loc="upper right", fontsize=7, ncol=3, framealpha=0.85)
        ax.grid(alpha=0.25)
        ax.tick_params(labelsize=7)
    eyes_ax.set_ylim(-0.25, 1.05)

    # Phone track, bilabials highlighted on the mouth panels too.
    for phone, (start, stop) in zip(clip.phones, clip.phone_times, strict=True):
        bilabial = phone in BILABIALS
        colour = _BILABIAL_COLOUR if bilabial else ("0.85" if phone == SILENCE else "#c6dbef")
        phone_ax.axvspan(start, stop, ymin=0.05, ymax=0.95, facecolor=colour, edgecolor="white", lw=0.8)
        label = "" if phone == SILENCE else phone
        vertical = (stop - start) * (width / max(end, 1e-3)) < 0.22  # narrower than a label, in inches
        phone_ax.text((start + stop) / 2, 0.5, label, ha="center", va="center", fontsize=7,
                      rotation=90 if vertical else 0, color="white" if bilabial else "black",
                      fontweight="bold" if bilabial else "normal")  # fmt: skip
        if bilabial:
            for ax in (lips_ax, shape_ax):
                ax.axvspan(start, stop, color=_SHADE, lw=0)
    phone_ax.set_yticks([])
    phone_ax.set_ylabel("phones", fontsize=9)
    phone_ax.set_xlabel("time (s)", fontsize=9)
    phone_ax.set_xlim(0.0, end)
    phone_ax.tick_params(labelsize=8)

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, bbox_inches="tight")
    return out_png

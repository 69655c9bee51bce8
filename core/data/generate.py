"""`python -m core data generate`: the speech-to-face training corpus.

Each clip is a sentence spoken by one TTS voice in one emotion (core.data.speech_synthesis), with ARKit-52
targets made from the exact phone timings (core.data.face_targets). Layout of OUT:
  manifest.json   generator version, preset, seed, voices, emotions, counts, content hash, timings
  splits.json     clip ids per split: train / heldout_sentences (training voices, unseen sentences) /
                  heldout_voices (identities never used for training)
  clips/VOICE/ID.wav + ID.npz   (core.data.clip format)
Generation is resumable: clips already on disk are kept, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.audio import SAMPLE_RATE
from core.data.clip import DEFAULT_FPS, Clip, save_clip
from core.data.emotions import EMOTIONS

# Bump whenever the synthesis or the target generation changes what a clip contains.
GENERATOR_VERSION = "1.0"


@dataclass
class CorpusPreset:
    name: str
    voices: tuple[str, ...]  # () = every available voice
    heldout_voices: int  # how many voices (taken from the end of the voice list) are never trained on
    emotions: tuple[str, ...]
    clips_per_voice: int
    heldout_sentence_fraction: float
    fps: float = DEFAULT_FPS
    # "corpus": speech_synthesis.VOICES; "encoder": speech_synthesis.ENCODER_VOICES (audio for the student encoder)
    voice_set: str = "corpus"
    # Take the sentences (and their train / held-out split) of this preset, so no held-out sentence is spoken here
    sentences_of: str | None = None


PRESETS: dict[str, CorpusPreset] = {
    # Enough for tests and a smoke run of training: about 2 minutes of audio, under a minute to make.
    "small": CorpusPreset(
        "small", voices=("flite_rms", "flite_slt", "flite_awb"), heldout_voices=1,
        emotions=("neutral", "happy", "angry"), clips_per_voice=14, heldout_sentence_fraction=0.2,
    ),
    # The training corpus: >= 3 hours over every voice and emotion.
    "full": CorpusPreset(
        "full", voices=(), heldout_voices=2, emotions=EMOTIONS, clips_per_voice=420,
        heldout_sentence_fraction=0.06,
    ),
    # More speakers for the student audio encoder (distillation phase A reads their audio, never their faces):
    # the full corpus's training sentences only, every clip in the train split.
    "encoder-voices": CorpusPreset(
        "encoder-voices", voices=(), heldout_voices=0, emotions=EMOTIONS, clips_per_voice=200,
        heldout_sentence_fraction=0.0, voice_set="encoder", sentences_of="full",
    ),
}  # fmt: skip


@dataclass
class ClipTask:
    clip_id: str
    voice: str
    emotion: str
    text: str
    seed: int
    split: str
    fps: float


@dataclass
class CorpusSummary:
    out_dir: Path
    clips: int
    seconds_of_audio: float
    generation_seconds: float
    voices: list[str]
    emotions: list[str]
    content_hash: str
    failures: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"corpus: {self.out_dir}",
            f"  clips: {self.clips}  audio: {self.seconds_of_audio / 3600:.2f} h  made in {self.generation_seconds:.0f} s",
            f"  voices ({len(self.voices)}): {', '.join(self.voices)}",
            f"  emotions ({len(self.emotions)}): {', '.join(self.emotions)}",
            f"  content hash: {self.content_hash}",
        ]
        if self.failures:
            lines.append(f"  {len(self.failures)} clips failed (see manifest.json): {self.failures[:3]}")
        return "\n".join(lines)


def plan_corpus(
    preset: CorpusPreset, seed: int, available_voices: list[str], corpus_voices: list[str] | None = None
) -> list[ClipTask]:
    """Decide every clip (voice, emotion, sentence, split) up front, deterministically for the seed.

    corpus_voices: the face corpus's voices, for a preset that takes its sentences from another (`sentences_of`):
    that preset's sentence list depends on how many voices it has."""
    from core.data.text_corpus import build_sentences, split_sentences

    voices = list(preset.voices) if preset.voices else list(available_voices)
    missing = [v for v in voices if v not in available_voices]
    if missing:
        raise RuntimeError(f"voices not available: {missing}; run `make system-deps` (see check_engines())")
    if len(voices) <= preset.heldout_voices:
        raise RuntimeError(f"preset '{preset.name}' needs more than {preset.heldout_voices} voices, found {voices}")
    heldout_voices = set(voices[len(voices) - preset.heldout_voices :])

    rng = np.random.default_rng(seed)
    if preset.sentences_of:
        reference = PRESETS[preset.sentences_of]
        sentences = build_sentences(reference.clips_per_voice * len(corpus_voices or voices), seed=seed)
        train_sents, heldout_sents = split_sentences(sentences, reference.heldout_sentence_fraction, seed=seed)
        sentences = train_sents
    else:
        sentences = build_sentences(preset.clips_per_voice * len(voices), seed=seed)
        train_sents, heldout_sents = split_sentences(sentences, preset.heldout_sentence_fraction, seed=seed)
    train_order = [train_sents[i] for i in rng.permutation(len(train_sents))]
    heldout_order = [heldout_sents[i] for i in rng.permutation(len(heldout_sents))]

    tasks: list[ClipTask] = []
    fraction = preset.heldout_sentence_fraction
    n_heldout_per_voice = max(1, round(preset.clips_per_voice * fraction)) if fraction > 0 else 0
    ti = hi = 0
    for vi, voice in enumerate(voices):
        for k in range(preset.clips_per_voice):
            emotion = preset.emotions[(k + vi) % len(preset.emotions)]  # balanced per voice
            if voice in heldout_voices:
                split = "heldout_voices"
                text = sentences[(vi * preset.clips_per_voice + k) % len(sentences)]
            elif k < n_heldout_per_voice:
                split = "heldout_sentences"
                text = heldout_order[hi % len(heldout_order)]
                hi += 1
            else:
                split = "train"
                text = train_order[ti % len(train_order)]
                ti += 1
            clip_id = f"{voice}_{emotion}_{k:04d}"
            tasks.append(ClipTask(clip_id, voice, emotion, text, int(rng.integers(2**31)), split, preset.fps))
    return tasks


def _clip_stem(out_dir: Path, task: ClipTask) -> Path:
    return out_dir / "clips" / task.voice / task.clip_id


def make_clip(task: ClipTask, out_dir: Path) -> tuple[str, float, list[str]]:
    """Synthesise one clip and write it. Returns (clip id, seconds of audio, phones)."""
    from core.data.face_targets import synthesize_face_targets
    from core.data.speech_synthesis import synthesize

    stem = _clip_stem(out_dir, task)
    utt = synthesize(task.text, task.voice, task.emotion, seed=task.seed, variation=1.0)
    duration = len(utt.audio) / SAMPLE_RATE
    weights = synthesize_face_targets(
        utt.phones, utt.phone_times, duration, task.fps, speaker=task.voice, emotion=task.emotion,
        audio=utt.audio, seed=task.seed,
    )  # fmt: skip
    clip = Clip(
        weights=weights, fps=task.fps, audio=utt.audio, phones=list(utt.phones), phone_times=utt.phone_times,
        speaker=task.voice, emotion=task.emotion, text=task.text,
    )  # fmt: skip
    save_clip(clip, stem)
    return task.clip_id, duration, list(utt.phones)


def _worker(args: tuple[ClipTask, Path]) -> tuple[str, float, list[str], str]:
    task, out_dir = args
    stem = _clip_stem(out_dir, task)
    if stem.with_suffix(".npz").exists() and stem.with_suffix(".wav").exists():
        import soundfile as sf

        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as z:
            phones = [str(p) for p in z["phones"]]
        return task.clip_id, sf.info(stem.with_suffix(".wav")).duration, phones, ""
    try:
        cid, dur, phones = make_clip(task, out_dir)
        return cid, dur, phones, ""
    except Exception as exc:  # noqa: BLE001 - one bad sentence must not stop a 30-minute run
        return task.clip_id, 0.0, [], f"{type(exc).__name__}: {exc}"


def corpus_content_hash(out_dir: Path) -> str:
    """sha256 over (relative path, file sha256) of every clip file, in sorted order."""
    h = hashlib.sha256()
    for path in sorted((out_dir / "clips").rglob("*")):
        if path.suffix in (".npz", ".wav"):
            h.update(str(path.relative_to(out_dir)).encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def generate_corpus(
    out_dir: Path, preset: str = "small", seed: int = 0, jobs: int = 2, progress: bool = True
) -> CorpusSummary:
    from core.data.speech_synthesis import ENCODER_VOICES, list_voices

    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}'; choose one of {sorted(PRESETS)}")
    config = PRESETS[preset]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    corpus_voices = list_voices()
    available = corpus_voices if config.voice_set == "corpus" else list_voices(ENCODER_VOICES)
    tasks = plan_corpus(config, seed, available, corpus_voices)

    results: dict[str, tuple[float, list[str]]] = {}
    failures: dict[str, str] = {}
    work = [(t, out_dir) for t in tasks]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), unit="clip", desc=f"corpus[{preset}]", file=sys.stderr, dynamic_ncols=True)
    try:
        if jobs <= 1:
            iterator = map(_worker, work)
            pool = None
        else:
            pool = mp.get_context("fork").Pool(jobs)
            iterator = pool.imap_unordered(_worker, work, chunksize=2)
        for cid, dur, phones, err in iterator:
            if err:
                failures[cid] = err
            else:
                results[cid] = (dur, phones)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{sum(d for d, _ in results.values()) / 60:.1f} min audio")
        if pool is not None:
            pool.close()
            pool.join()
    except KeyboardInterrupt:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if bar is not None:
            bar.close()

    ok = [t for t in tasks if t.clip_id in results]
    splits: dict[str, list[str]] = {"train": [], "heldout_sentences": [], "heldout_voices": []}
    for t in ok:
        splits[t.split].append(f"clips/{t.voice}/{t.clip_id}")
    splits_doc = {
        "heldout_voices_names": sorted({t.voice for t in tasks if t.split == "heldout_voices"}),
        **splits,
    }
    (out_dir / "splits.json").write_text(json.dumps(splits_doc, indent=1))

    seconds = sum(d for d, _ in results.values())
    content_hash = corpus_content_hash(out_dir)
    elapsed = time.perf_counter() - t0
    voices = sorted({t.voice for t in tasks})
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "preset": asdict(config),
        "seed": seed,
        "voices": voices,
        "emotions": list(config.emotions),
        "clips": len(ok),
        "seconds_of_audio": round(seconds, 2),
        "generation_seconds": round(elapsed, 1),
        "jobs": jobs,
        "content_hash": content_hash,
        "failures": failures,
        "clip_index": [
            {
                "id": f"clips/{t.voice}/{t.clip_id}",
                "voice": t.voice,
                "emotion": t.emotion,
                "split": t.split,
                "text": t.text,
            }
            for t in ok
        ],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return CorpusSummary(
        out_dir, len(ok), seconds, elapsed, voices, list(config.emotions), content_hash, sorted(failures)
    )

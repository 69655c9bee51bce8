"""`python -m core bench --json OUT.json`: teacher-16 vs student-2 speed, size, quality ratio, memory, long audio.

A benchmark, not a test: numbers measured in one run on this machine, written as JSON. Each timed case runs in its own
subprocess (`python -m core bench --case ...`) so its peak resident memory (ru_maxrss) is its own, with the same
torch thread count. The 60 s clip and the 10 minute clip are real corpus speech (held-out voices) joined end to end.

Keys: teacher_steps, student_steps, teacher_s, student_s, speedup, teacher_mb, student_mb, size_reduction,
student_rtf, teacher_rtf, lve_ratio (student LVE / teacher LVE on held-out clips), teacher_peak_mb,
student_peak_mb, long_audio_s, long_audio_peak_mb, long_audio_join_ratio (largest frame-to-frame change at a
window join over the median change of the take), with the same statistic for stretches away from every join
(what speech itself does: a seam shows as joins worse than elsewhere), plus the numpy backend's student time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def join_clips(corpus: Path, split: str, seconds: float, out: Path) -> Path:
    """Concatenate a split's wavs (in splits.json order, repeating if needed) into one `seconds`-long wav."""
    from core.audio import SAMPLE_RATE, load_audio, save_wav
    from core.training.corpus_features import read_splits

    ids = read_splits(corpus)[split]
    pieces, total, i = [], 0, 0
    while total < seconds * SAMPLE_RATE:
        audio = load_audio(corpus / f"{ids[i % len(ids)]}.wav")
        pieces.append(audio)
        total += audio.size
        i += 1
    return save_wav(out, np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)])


def _join_regions(frames: int, window_frames: int, prefix_frames: int, crossfade_frames: int) -> list[slice]:
    """Where core.sampling.windowed_sample joins windows, as slices of the frame-to-frame changes.

    The first window writes frames [0, window); each next one writes `window - prefix - crossfade` new frames,
    cross-fading the `crossfade` frames before them. A join's region is that cross-fade plus the step into the
    first new frame.
    """
    regions, written = [], window_frames
    while written < frames:
        regions.append(slice(max(written - crossfade_frames - 1, 0), written + 1))
        written += window_frames - prefix_frames - crossfade_frames
    return regions


def window_join_ratio(weights: np.ndarray, window_frames: int, prefix_frames: int, crossfade_frames: int) -> float:
    """max over window joins of the largest frame-to-frame change there, over the median change of the whole take."""
    return join_statistics(weights, window_frames, prefix_frames, crossfade_frames)["worst_join"]


def join_statistics(weights: np.ndarray, window_frames: int, prefix_frames: int, crossfade_frames: int) -> dict:
    """The largest change in each join region over the take's median change (worst and median over joins), and the
    same statistic for equally long stretches away from every join: what speech itself does (blinks, onsets)."""
    change = np.linalg.norm(np.diff(weights, axis=0), axis=1)  # (frames - 1,): change[i] is frame i -> i + 1
    median = float(np.median(change)) or 1e-9
    regions = _join_regions(len(weights), window_frames, prefix_frames, crossfade_frames)
    if not regions:
        return {"joins": 0, "worst_join": 0.0, "median_join": 0.0, "worst_away": 0.0, "median_away": 0.0}
    at_joins = np.array([change[r].max() for r in regions]) / median
    length = regions[0].stop - regions[0].start
    near = np.zeros(len(change), bool)
    for r in regions:
        near[max(r.start - length, 0) : r.stop] = True  # a stretch starting here would overlap the join
    away = np.array([change[s : s + length].max() for s in range(0, len(change) - length, length) if not near[s]])
    away = away / median if away.size else np.zeros(1)
    return {
        "joins": len(regions),
        "worst_join": float(at_joins.max()),
        "median_join": float(np.median(at_joins)),
        "worst_away": float(away.max()),
        "median_away": float(np.median(away)),
    }


def run_case(case: str, weights_dir: Path, audio: Path, threads: int, device: str = "cpu") -> dict:
    """Timed generation in this process: model load excluded, audio decoding + features + sampling included.
    `device` "cuda" times a torch case on a GPU (its peak_mb is then the GPU memory the run allocated)."""
    import threading

    import torch

    from core.animation_job import AnimationRequest
    from core.inference import load_engine

    torch.set_num_threads(threads)
    model, backend = {"teacher": ("teacher", "torch"), "student": ("student", "torch"),
                      "student-numpy": ("student", "numpy"), "long": ("student", "torch")}[case]  # fmt: skip
    engine = load_engine(weights_dir, device=device if backend == "torch" else "cpu", backend=backend, model=model)
    actual_device = str(getattr(engine.backend, "device", "cpu"))  # a GPU that is not there falls back to the CPU
    on_gpu = actual_device.startswith("cuda")
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    # The long case measures the model's window joins: no blink layer, so a blink that lands on a join is not
    # counted as a seam (the blinks cost nothing measurable in the timed cases, which keep them).
    blinks = 0.0 if case == "long" else AnimationRequest.blinks_per_minute
    request = AnimationRequest(audio_path=audio, seed=0, fps=30.0, blinks_per_minute=blinks)
    # Timed cases: one warm-up, then the median of three runs (single runs on a shared 2-core machine vary by +-30 %).
    warmups, timed = (0, 1) if case == "long" else (1, 3)
    runs = []
    for index in range(warmups + timed):
        started = time.perf_counter()
        animation = engine.animate(request, lambda *_: None, threading.Event())
        if index >= warmups:
            runs.append(time.perf_counter() - started)
    result = {
        "case": case,
        "seconds": float(np.median(runs)),
        "seconds_runs": runs,
        "audio_seconds": animation.duration,
        "steps": engine.steps,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": actual_device,
    }
    if on_gpu:
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu"] = torch.cuda.get_device_name()
    if case == "long":
        w = engine.window
        result["joins"] = join_statistics(animation.weights, w.window_frames, w.prefix_frames, w.crossfade_frames)
    return result


def _subprocess_case(case: str, weights_dir: Path, audio: Path, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "core", "bench", "--case", case, "--weights", str(weights_dir), "--audio", str(audio),
         "--threads", str(threads)],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"bench case {case} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def model_megabytes(weights_dir: Path) -> tuple[float, float]:
    """(teacher, student) parameter megabytes at float32, the teacher including its frozen Whisper encoder."""
    from core.inference import load_engine

    teacher = load_engine(weights_dir, device="cpu", backend="torch", model="teacher")
    student = load_engine(weights_dir, device="cpu", backend="torch", model="student")

    def mb(*modules) -> float:
        return sum(p.numel() for m in modules for p in m.parameters()) * 4 / 1e6

    return mb(teacher.backend.talker, teacher.backend.encoder.model), mb(
        student.backend.talker, student.backend.encoder
    )


def lve_ratio(weights_dir: Path, corpus: Path, clips: int | None) -> tuple[float, float]:
    """(student LVE, teacher LVE) on the same held-out clips (None: all of them), each through its engine (features
    from the audio, its steps and window plan: what `animate` runs). All of them by default: on 40 or 60 clips the
    ratio moved by +-0.07 with the choice of clips."""
    from core.evaluation import evaluate, load_eval_clips
    from core.inference import load_engine

    heldout = load_eval_clips(corpus, ["heldout_voices", "heldout_sentences"])
    results = []
    for model in ("student", "teacher"):
        engine = load_engine(weights_dir, device="cpu", backend="torch", model=model)
        report = evaluate(engine, heldout, None, max_clips=clips, diversity_clips=0)
        results.append(report["lve"])
    return results[0], results[1]


def benchmark(weights_dir: Path, corpus: Path, threads: int = 2, lve_clips: int | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        minute = join_clips(corpus, "heldout_voices", 60.0, Path(tmp) / "minute.wav")
        ten_minutes = join_clips(corpus, "heldout_voices", 600.0, Path(tmp) / "ten_minutes.wav")
        teacher = _subprocess_case("teacher", weights_dir, minute, threads)
        student = _subprocess_case("student", weights_dir, minute, threads)
        student_numpy = _subprocess_case("student-numpy", weights_dir, minute, threads)
        long = _subprocess_case("long", weights_dir, ten_minutes, threads)
    teacher_mb, student_mb = model_megabytes(weights_dir)
    student_lve, teacher_lve = lve_ratio(weights_dir, corpus, lve_clips)
    return {
        "threads": threads,
        "clip_seconds": student["audio_seconds"],
        "teacher_steps": teacher["steps"],
        "student_steps": student["steps"],
        "teacher_s": teacher["seconds"],
        "student_s": student["seconds"],
        "speedup": teacher["seconds"] / student["seconds"],
        "teacher_rtf": teacher["audio_seconds"] / teacher["seconds"],
        "student_rtf": student["audio_seconds"] / student["seconds"],
        "student_numpy_s": student_numpy["seconds"],
        "student_numpy_rtf": student_numpy["audio_seconds"] / student_numpy["seconds"],
        "teacher_mb": teacher_mb,
        "student_mb": student_mb,
        "size_reduction": 1.0 - student_mb / teacher_mb,
        "student_disk_mb": (weights_dir / "student.safetensors").stat().st_size / 1e6,
        "teacher_lve": teacher_lve,
        "student_lve": student_lve,
        "lve_ratio": student_lve / teacher_lve,
        "lve_clips": lve_clips or "all held-out",
        "teacher_peak_mb": teacher["peak_mb"],
        "student_peak_mb": student["peak_mb"],
        "long_audio_seconds": long["audio_seconds"],
        "long_audio_s": long["seconds"],
        "long_audio_peak_mb": long["peak_mb"],
        "long_audio_join_ratio": long["joins"]["worst_join"],
        "long_audio_join_ratio_median": long["joins"]["median_join"],
        # The same statistic on stretches away from any join: how much speech itself moves (no seams there).
        "long_audio_away_ratio_worst": long["joins"]["worst_away"],
        "long_audio_away_ratio_median": long["joins"]["median_away"],
        "long_audio_joins": long["joins"]["joins"],
    }

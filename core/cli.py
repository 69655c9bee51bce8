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
        Path(a.audio), a.transcript, Path(a.out), speaker=a.speaker, emotion=a.emotion, seed=a.seed
    )
    print(f"wrote {out}")
    return 0


def _data_import(a: argparse.Namespace) -> int:
    from core.data.datasets import import_dataset

    paths = import_dataset(a.format, Path(a.src), Path(a.out), fps=a.fps)
    print(f"imported {len(paths)} clips into {a.out}")
    return 0


def _rig_contact_sheet(a: argparse.Namespace) -> int:
    from core.rig.contact_sheet import render_contact_sheet

    render_contact_sheet(Path(a.out), resolution=a.resolution, samples=a.samples)
    print(f"wrote {a.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="DiffusionTalker: speech-driven ARKit-52 facial animation.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="generate, inspect and import training data").add_subparsers(
        dest="data_command", required=True, metavar="ACTION"
    )
    g = data.add_parser("generate", help="synthesise the speech-to-face corpus")
    g.add_argument("--out", required=True, help="output directory")
    g.add_argument("--preset", choices=["small", "full"], default="small")
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
    al.set_defaults(func=_data_align)

    im = data.add_parser("import", help="convert a real dataset (BEAT, 3D-ETF, Live Link Face, VOCASET) into clips")
    im.add_argument("format", choices=["beat", "3detf", "livelinkface", "vocaset"])
    im.add_argument("src")
    im.add_argument("--out", required=True)
    im.add_argument("--fps", type=float, default=30.0)
    im.set_defaults(func=_data_import)

    rig = sub.add_parser("rig", help="the ARKit-52 demo head").add_subparsers(dest="rig_command", required=True, metavar="ACTION")
    cs = rig.add_parser("contact-sheet", help="render every ARKit key of the demo head at weight 1 (needs bpy)")
    cs.add_argument("--out", required=True)
    cs.add_argument("--resolution", type=int, default=160, help="pixels per cell")
    cs.add_argument("--samples", type=int, default=8, help="Cycles samples")
    cs.set_defaults(func=_rig_contact_sheet)
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

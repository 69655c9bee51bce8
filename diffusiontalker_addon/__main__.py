"""`python -m diffusiontalker_addon COMMAND`: what the add-on runs outside Blender's UI (needs the `bpy` module).

demo [--out output] [...]       the demo head animated from the bundled clip, saved and rendered (make demo)
demo --make-clip                regenerate the bundled clip core/assets/demo/demo_line.wav + .npz (festival)
contact-sheet --out PNG [--head human|procedural]   every ARKit key of a demo head, rendered in a grid
benchmark [--frames N]          the key-writing benchmark; prints one JSON line
"""

import argparse
import sys
from pathlib import Path


def _demo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m diffusiontalker_addon demo", description=__doc__)
    p.add_argument("--out", default="output", help="folder for demo.blend, demo_preview.png, demo.mp4")
    p.add_argument("--resolution", type=int, default=256, help="pixels (square) of each contact-sheet frame")
    p.add_argument("--samples", type=int, default=8, help="Cycles samples of the contact sheet")
    p.add_argument("--video-resolution", type=int, default=192, help="pixels (square) of the video")
    p.add_argument("--video-samples", type=int, default=4, help="Cycles samples of the video")
    p.add_argument("--video", choices=["auto", "always", "never"], default="auto",
                   help="demo.mp4 with sound: auto renders it when the estimate fits --video-budget")  # fmt: skip
    p.add_argument("--video-budget", type=float, default=240.0, help="seconds the video may take (auto)")
    p.add_argument("--make-clip", action="store_true", help="only regenerate the bundled clip (festival)")
    p.add_argument("--audio", default="", help="animate this recording instead of the bundled clip (needs weights/)")
    p.add_argument("--identity", default="", help="style identity (default: the clip's voice, else 'default')")
    p.add_argument("--emotion", default="", help="style emotion (default: neutral)")
    p.add_argument("--head", choices=["human", "procedural"], default="human",
                   help="demo head: the MakeHuman head (CC0) or the procedural MediaPipe mask")  # fmt: skip
    a = p.parse_args(argv)
    if a.make_clip:
        from core.data.demo_clip_generation import make_demo_clip

        print(f"wrote {make_demo_clip()} (+ .wav)")
        return 0
    from .demo import DemoOptions, run_demo

    options = DemoOptions(
        resolution=a.resolution, samples=a.samples, video=a.video, video_budget_s=a.video_budget,
        video_resolution=a.video_resolution, video_samples=a.video_samples, audio=a.audio, identity=a.identity,
        emotion=a.emotion, head=a.head.upper(),
    )  # fmt: skip
    try:
        print(run_demo(Path(a.out), options).describe())
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _contact_sheet(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m diffusiontalker_addon contact-sheet",
        description="render every ARKit key of a demo head at weight 1 into one labelled grid PNG (Cycles, CPU)",
    )
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--head", choices=["human", "procedural"], default="human")
    p.add_argument("--resolution", type=int, default=160, help="pixels per cell")
    p.add_argument("--samples", type=int, default=8, help="Cycles samples")
    a = p.parse_args(argv)
    from .contact_sheet import render_contact_sheet

    render_contact_sheet(Path(a.out), head=a.head.upper(), resolution=a.resolution, samples=a.samples)
    print(f"wrote {a.out}")
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "demo":
        return _demo(argv[1:])
    if argv and argv[0] == "contact-sheet":
        return _contact_sheet(argv[1:])
    if argv and argv[0] == "benchmark":
        from .action_writer import benchmark_main

        return benchmark_main(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))

"""Animate a whole folder of recordings: one .blend per recording, each a copy of the scene with that take.

Inside Blender (the extension installed and enabled, or not: this script registers the add-on it lives in):

    blender -b scene.blend --python <addon>/batch.py -- --object Face --audio voices/ \
        --identity default --emotion happy --out takes/

With the `bpy` Python module (no Blender executable), name the .blend with --blend:

    python <addon>/batch.py -- --blend scene.blend --object Face --audio a.wav b.flac --out takes/

--audio takes folders (their .wav/.flac/.ogg/.mp3, sorted by name), audio files, and .txt files listing one audio
path per line. Every recording starts from the same saved scene. One progress line per recording goes to stdout;
the exit status is 1 when any recording failed (each failure says why), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import bpy

_PACKAGE_DIR = Path(__file__).resolve().parent
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == _PACKAGE_DIR:
    sys.path.pop(0)  # run as a script: the add-on's modules must not shadow top-level names (engine, properties...)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    _make_core_importable()
    from core.runtime import BATCH, add_flags

    parser = argparse.ArgumentParser(
        prog="batch.py", description="Animate a folder of recordings with DiffusionTalker, one .blend per recording."
    )
    parser.add_argument("--object", required=True, help="name of the face mesh to animate in the scene")
    parser.add_argument("--audio", required=True, nargs="+", help="audio files, folders, or .txt lists of paths")
    parser.add_argument("--out", required=True, help="folder for the animated .blend files")
    parser.add_argument("--blend", help="scene to start from (default: the file Blender opened)")
    add_flags(parser, BATCH)  # --identity, --emotion, --emotion-strength, --seed, --blinks-per-minute, --start-frame
    parser.add_argument("--no-audio-strip", action="store_true", help="do not add the audio to the sequencer")
    parser.add_argument("--lock", nargs="*", default=[], help="face regions to leave untouched (e.g. eyes brows)")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    return parser.parse_args(argv)


def script_arguments(argv: list[str]) -> list[str]:
    """Blender passes its own arguments too; ours follow `--`."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]


def collect_audio_files(sources: list[str]) -> list[Path]:
    """Expand folders and .txt lists into audio files; raise ValueError naming anything missing or unusable."""
    _make_core_importable()
    from core.runtime import AUDIO_SUFFIXES

    found: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()))
        elif path.suffix.lower() == ".txt" and path.is_file():
            lines = [line.strip() for line in path.read_text().splitlines()]
            found.extend((path.parent / line).expanduser() for line in lines if line and not line.startswith("#"))
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"--audio '{source}' is neither a file nor a folder")
    if not found:
        raise ValueError(f"No audio files ({', '.join(AUDIO_SUFFIXES)}) found in {', '.join(sources)}")
    return [p.resolve() for p in found]


def _is_source_checkout() -> bool:
    return (_PACKAGE_DIR.parent / "core" / "__init__.py").is_file()


def _make_core_importable() -> None:
    """`from core... import` works from here on in a source checkout (core sits beside the add-on). An installed
    extension's copy of this file imports its vendored core relatively, so it runs inside its package (see
    `_main_in_package`) and needs nothing here."""
    if _is_source_checkout() and str(_PACKAGE_DIR.parent) not in sys.path:
        sys.path.insert(0, str(_PACKAGE_DIR.parent))


def ensure_addon_registered() -> str:
    """Register the add-on this script belongs to, unless Blender already enabled it; returns its package name."""
    if hasattr(bpy.types, "DIFFUSIONTALKER_OT_animate"):
        return bpy.types.DIFFUSIONTALKER_OT_animate.__module__.rpartition(".")[0]
    _make_core_importable()
    spec = importlib.util.spec_from_file_location(
        _PACKAGE_DIR.name, _PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(_PACKAGE_DIR)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE_DIR.name] = package
    spec.loader.exec_module(package)
    package.register()
    return _PACKAGE_DIR.name


def _main_in_package() -> int:
    """Run `main` as a module of the add-on's package: an installed extension's modules import their vendored core
    relatively, which only works inside the package (`blender --python batch.py` runs this file as __main__)."""
    if _is_source_checkout():
        return main()
    package = ensure_addon_registered()
    return importlib.import_module(f"{package}.batch").main(sys.argv)


def output_paths(audio_files: list[Path], out_dir: Path) -> list[Path]:
    """`OUT/<stem>.blend`, numbered when two recordings share a name."""
    seen: dict[str, int] = {}
    paths = []
    for audio in audio_files:
        count = seen.get(audio.stem, 0)
        seen[audio.stem] = count + 1
        paths.append(out_dir / (f"{audio.stem}.blend" if count == 0 else f"{audio.stem}_{count}.blend"))
    return paths


def run(args: argparse.Namespace) -> int:
    try:
        audio_files = collect_audio_files(args.audio)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.blend:
        if not Path(args.blend).is_file():
            print(f"error: --blend '{args.blend}' does not exist", file=sys.stderr)
            return 2
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()), load_ui=False)
    ensure_addon_registered()
    from core.runtime import REGION_PATTERNS  # importable once the add-on is registered (vendored or not)

    regions = list(REGION_PATTERNS)
    unknown = sorted(set(args.lock) - set(regions))
    if unknown:
        print(f"error: --lock {' '.join(unknown)}: unknown region; use {', '.join(regions)}", file=sys.stderr)
        return 2
    if bpy.data.objects.get(args.object) is None:
        names = ", ".join(o.name for o in bpy.data.objects if o.type == "MESH") or "none"
        print(f"error: the scene has no object '{args.object}' (meshes: {names})", file=sys.stderr)
        return 2
    problem = check_style_names(args.identity, args.emotion)
    if problem:  # once, not once per recording
        print(f"error: {problem}", file=sys.stderr)
        return 2
    out_dir = Path(args.out).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out '{args.out}' is a file; name a folder for the animated .blend files", file=sys.stderr)
        return 2
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: --out '{args.out}' cannot be created: {exc.strerror or exc}", file=sys.stderr)
        return 2

    # Every recording starts from the same scene: a snapshot taken now, reopened before each one.
    with tempfile.TemporaryDirectory(prefix="diffusiontalker_batch_") as scratch:
        snapshot = Path(scratch) / "start.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(snapshot), copy=True)
        failures = []
        for number, (audio, blend_out) in enumerate(
            zip(audio_files, output_paths(audio_files, out_dir), strict=True), start=1
        ):
            prefix = f"[{number}/{len(audio_files)}]"
            began = time.perf_counter()
            try:
                summary = animate_one(snapshot, audio, blend_out, args)
            except RuntimeError as exc:
                message = str(exc).strip().removeprefix("Error: ").strip()
                failures.append((audio, message))
                print(f"{prefix} FAILED {audio.name}: {message}", flush=True)
                if args.fail_fast:
                    break
                continue
            print(
                f"{prefix} ok {audio.name} -> {blend_out} ({summary}, {time.perf_counter() - began:.1f} s)", flush=True
            )
    if failures:
        print(f"{len(failures)} of {len(audio_files)} recordings failed:", file=sys.stderr)
        for audio, message in failures:
            print(f"  {audio}: {message}", file=sys.stderr)
        return 1
    print(f"done: {len(audio_files)} recordings animated into {out_dir}", flush=True)
    return 0


def check_style_names(identity: str, emotion: str) -> str:
    """Why the registered add-on's engine cannot use these style names ("" when it can): the same engine, user
    styles included, that the panel offers."""
    import importlib

    package = bpy.types.DIFFUSIONTALKER_OT_animate.__module__.rpartition(".")[0]
    addon_engine = importlib.import_module(f"{package}.engine")
    preferences = importlib.import_module(f"{package}.preferences")
    chosen = addon_engine.get_engine(preferences.get_preferences())
    for option, name, offered in (
        ("--identity", identity, chosen.identities()),
        ("--emotion", emotion, chosen.emotions()),
    ):
        if name not in offered:
            return f"{option} '{name}' is not in the style library; choose one of: {', '.join(offered)}"
    return ""


def animate_one(snapshot: Path, audio: Path, blend_out: Path, args: argparse.Namespace) -> str:
    """Animate one recording on a fresh copy of the scene and save it. RuntimeError says why it could not."""
    from core.runtime import BATCH, options_for

    bpy.ops.wm.open_mainfile(filepath=str(snapshot), load_ui=False)
    bpy.ops.diffusiontalker.animate(
        object_name=args.object,
        audio=str(audio),
        **{option.name: getattr(args, option.name) for option in options_for(BATCH)},
        add_audio_strip=not args.no_audio_strip,
        set_frame_range=True,
        locked_regions=set(args.lock),
    )
    key = bpy.data.objects[args.object].data.shape_keys
    action = key.animation_data.action
    bpy.ops.wm.save_as_mainfile(filepath=str(blend_out), copy=True)
    scene = bpy.context.scene
    return (
        f"frames {scene.frame_start}-{scene.frame_end}, action '{action.name}', {action['diffusiontalker']['source']}"
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(script_arguments(sys.argv if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    return run(args)


if __name__ == "__main__":
    sys.exit(_main_in_package())

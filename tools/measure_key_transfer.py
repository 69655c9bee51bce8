"""Measure "Add ARKit Keys" (core.rig.key_transfer) on every head mesh at hand; prints a Markdown table.

    python tools/measure_key_transfer.py [--human-head PATH/human_head.npz] [MESH.obj|MESH.off ...]

Per mesh: the face frame found, which openings were tracked, CPU and wall seconds, and the geometric checks:
jawOpen opens the lips by >= 5 % of the face height, jawOpen + mouthClose brings them back within 1 % of their rest
gap, eyeBlinkLeft closes the left eye (>= 80 %) and moves the right eye < 0.1 % of the head, and no key moves a
vertex behind the ears (or behind the head's middle on a mask) by >= 0.1 % of the head's size. The lips and lids
measured are the target vertices the transfer put on either side of its mouth and lid lines, nearest the middle.
Face height: nasion-to-chin scaled to the template's chin-to-hairline (17.7 / 11.2).

With --human-head (core/assets/human_head.npz of branch h-head and its core/rig/human_head.py beside this repo's
core), the keys carried from the procedural head onto the bare human head are compared with its authored keys under
the demo clip's animation: lip-gap correlation, closure on every P/B/M the authored rig closes, both eyes on blinks.
The downloaded scans are not in the repository (menpo3d==0.8.6 sdist: menpo3d/data/james.obj; Debian
libcgal-demo: data/meshes/head.off, mannequin-devil.off, man.off).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.clip import load_clip  # noqa: E402
from core.data.demo_clip import demo_clip_paths  # noqa: E402
from core.data.phonemes import BILABIALS  # noqa: E402
from core.rig.arkit import ARKIT_NAMES  # noqa: E402
from core.rig.demo_head import load_demo_head, to_blender_frame  # noqa: E402
from core.rig.key_transfer import guess_face_frame, make_arkit_keys, procedural_template, transfer_keys  # noqa: E402
from core.rig.key_transfer.template import FACE, JAW, LEFT_LOWER_LID, LEFT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_UPPER_LID  # noqa: E402  # noqa: E402


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) triangles (polygons fanned) of an .obj or .off file."""
    lines = path.read_text(errors="replace").splitlines()
    vertices, polygons = [], []
    if path.suffix.lower() == ".off":
        words = " ".join(line.split("#")[0] for line in lines).split()
        assert words[0].upper().startswith("OFF")
        nv, nf = int(words[1]), int(words[2])
        values = words[4:]
        vertices = np.array(values[: 3 * nv], dtype=np.float64).reshape(nv, 3)
        at = 3 * nv
        for _ in range(nf):
            n = int(values[at])
            polygons.append([int(i) for i in values[at + 1 : at + 1 + n]])
            at += 1 + n
    else:
        for line in lines:
            parts = line.split()
            if parts and parts[0] == "v":
                vertices.append([float(c) for c in parts[1:4]])
            elif parts and parts[0] == "f":
                polygons.append([int(c.split("/")[0]) - 1 for c in parts[1:]])
        vertices = np.array(vertices)
    triangles = [[p[0], p[i], p[i + 1]] for p in polygons for i in range(1, len(p) - 1)]
    return vertices, np.array(triangles, dtype=np.int64)


def nearest(indices: np.ndarray, points: np.ndarray, target: np.ndarray) -> int:
    return int(indices[np.argmin(np.linalg.norm(points[indices, :2] - target[:2], axis=1))])


def checks(name: str, vertices: np.ndarray, triangles: np.ndarray, landmarks: dict | None = None) -> dict:
    """The geometric checks of one mesh; `landmarks` (name -> point in the mesh's coordinates) stand for empties a
    user moved by hand (Place Landmarks, move, Generate Keys) where automatic landmarks find no face."""
    cpu, wall = time.process_time(), time.perf_counter()
    if landmarks is None:
        result = make_arkit_keys(vertices, triangles)
    else:
        frame = guess_face_frame(vertices, None, None, triangles)
        result = transfer_keys(vertices, triangles, landmarks, frame, procedural_template())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    frame, d = result.frame, result.deltas
    face = frame.to_face(vertices)
    lm = {k: frame.to_face(v[None])[0] for k, v in result.landmarks.items()}
    height = (lm["nasion"][1] - lm["chin"][1]) * 17.67 / 11.22
    size = float(np.ptp(vertices, axis=0).max())
    reached = result.weights > 0.5  # on the surface the template covers (not inside a mouth or eye socket)
    near_mouth = reached & (
        np.abs(face[:, 0] - lm["mouth_center"][0]) < 0.1 * abs(lm["mouth_left"][0] - lm["mouth_right"][0])
    )
    upper = nearest(np.flatnonzero(near_mouth & (result.regions == FACE)), face, lm["mouth_center"])
    lower = nearest(np.flatnonzero(near_mouth & (result.regions == JAW)), face, lm["mouth_center"])

    def gap(offsets: np.ndarray, a: int = upper, b: int = lower) -> float:
        return float(np.linalg.norm((vertices + offsets)[a] - (vertices + offsets)[b]))

    zero = np.zeros_like(vertices)
    eye_mid = {s: (lm[f"eye_{s}_inner"] + lm[f"eye_{s}_outer"]) / 2 for s in ("left", "right")}
    lids = {
        s: [nearest(np.flatnonzero(reached & (result.regions == r)), face, eye_mid[s]) for r in regions]
        for s, regions in (("left", (LEFT_UPPER_LID, LEFT_LOWER_LID)), ("right", (RIGHT_UPPER_LID, RIGHT_LOWER_LID)))
    }
    right_eye = np.flatnonzero(np.isin(result.regions, (RIGHT_UPPER_LID, RIGHT_LOWER_LID)))
    back_z = lm["ear_left"][2] if "ear_left" in lm else lm["eye_left_outer"][2] - 0.45 * np.ptp(face[:, 0])
    behind = face[:, 2] < back_z - 0.02 * size
    moved_behind = max(float(np.linalg.norm(d[k][behind], axis=1).max()) if behind.any() else 0.0 for k in ARKIT_NAMES)
    left_rest = gap(zero, *lids["left"])
    return {
        "mesh": name,
        "vertices": len(vertices),
        "front,up": f"{_axis(frame.front)},{_axis(frame.up)}",
        "tracked": ",".join(k for k, v in result.openings_found.items() if v) or "-",
        "cpu s": f"{cpu:.2f}",
        "wall s": f"{wall:.1f}",
        "jawOpen opens (% face)": f"{100 * (gap(d['jawOpen']) - gap(zero)) / height:.1f}",
        "jaw+close vs rest (% face)": f"{100 * (gap(d['jawOpen'] + d['mouthClose']) - gap(zero)) / height:.2f}",
        "blinkL closes L (%)": f"{100 * (1 - gap(d['eyeBlinkLeft'], *lids['left']) / left_rest):.0f}",
        "blinkL moves R eye (% head)": f"{100 * float(np.linalg.norm(d['eyeBlinkLeft'][right_eye], axis=1).max()) / size:.3f}"
        if len(right_eye)
        else "-",
        "behind ears: vertices, max move (% head)": f"{int(behind.sum())}, {100 * moved_behind / size:.3f}",
    }


def _axis(vector: np.ndarray) -> str:
    i = int(np.argmax(np.abs(vector)))
    return ("+" if vector[i] > 0 else "-") + "XYZ"[i]


def human_ground_truth(npz: Path) -> str:
    import importlib.util

    module_path = npz.parents[1] / "rig" / "human_head.py"
    spec = importlib.util.spec_from_file_location("human_head_of_h_head", module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    human = module.load_human_head(npz)
    head = human.part("head")
    quads = head.faces
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.int64)
    vertices = head.vertices.astype(np.float64)
    result = make_arkit_keys(vertices, triangles)
    clip = load_clip(demo_clip_paths()[1], with_audio=False)
    weights = clip.weights.astype(np.float64)  # (T, 52)
    height = human.face_height()

    def series(deltas: dict[str, np.ndarray], measure) -> np.ndarray:
        rows = sorted({human.landmarks[k] for k in human.landmarks})
        stack = np.stack([deltas[n][rows] for n in ARKIT_NAMES])  # (52, R, 3)
        posed = vertices[rows][None] + np.einsum("tk,krc->trc", weights, stack)
        out = []
        for frame in posed:
            full = vertices.copy()
            full[rows] = frame
            out.append(measure(full))
        return np.array(out)

    authored = {n: head.key_deltas(n) if n in head.keys else np.zeros_like(head.vertices) for n in ARKIT_NAMES}
    gap_ours, gap_authored = series(result.deltas, human.lip_gap), series(authored, human.lip_gap)
    corr = float(np.corrcoef(gap_ours, gap_authored)[0, 1])
    t = np.arange(len(weights)) / clip.fps
    closed = 0.01 * height
    missed, counted = [], 0
    for phone, (start, end) in zip(clip.phones, clip.phone_times, strict=True):
        if phone not in BILABIALS:
            continue
        window = (t >= start - 0.1) & (t <= end)
        if gap_authored[window].min() < closed:
            counted += 1
            if gap_ours[window].min() >= closed:
                missed.append(f"{phone}@{start:.2f}s")
    lines = [
        f"Human head (bare, {len(vertices)} vertices; keys from the procedural head) vs its authored Face Units keys,",
        f"demo clip ({len(weights)} frames): lip-gap correlation {corr:.3f}; bilabials the authored rig closes: "
        f"{counted}, ours closes {counted - len(missed)}{' (missed ' + ', '.join(missed) + ')' if missed else ''}",
    ]
    for side in ("left", "right"):
        rest = human.eye_aperture(side, vertices)
        w = {f"eyeBlink{side.title()}": 1.0}
        ours = human.eye_aperture(side, vertices + sum(v * result.deltas[k] for k, v in w.items()))
        theirs = human.eye_aperture(side, head.posed(w))
        lines.append(
            f"eyeBlink{side.title()} = 1: {side} lid gap {100 * rest / height:.2f} % of face at rest -> ours "
            f"{100 * ours / height:.2f} %, authored {100 * theirs / height:.2f} %"
        )
    for name in ("jawOpen",):
        lines.append(
            f"{name} = 1: lip gap ours {100 * human.lip_gap(vertices + result.deltas[name]) / height:.1f} % of face, "
            f"authored {100 * human.lip_gap(head.posed({name: 1.0})) / height:.1f} %"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("meshes", nargs="*", type=Path)
    parser.add_argument("--human-head", type=Path)
    parser.add_argument(
        "--landmarks", action="append", default=[], metavar="MESH_NAME=JSON",
        help="landmarks placed by hand for a mesh (a JSON like tools/james_landmarks.json, in the file's coordinates)",
    )  # fmt: skip
    args = parser.parse_args()
    by_hand = {}
    for item in args.landmarks:
        mesh_name, json_path = item.split("=", 1)
        points = json.loads(Path(json_path).read_text())["landmarks"]
        by_hand[mesh_name] = {k: np.asarray(v, dtype=np.float64) for k, v in points.items()}
    rows = []
    head = load_demo_head()
    procedural_template()  # built once (cached), not timed per mesh
    rng = np.random.default_rng(0)
    v, f = to_blender_frame(head.vertices).astype(np.float64), head.faces.astype(np.int64)
    order = rng.permutation(len(v))
    rows.append(checks("procedural head, shuffled, Blender frame", v[order], np.argsort(order)[f]))
    if args.human_head:
        import importlib.util

        spec = importlib.util.spec_from_file_location("hh", args.human_head.parents[1] / "rig" / "human_head.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["hh"] = module
        spec.loader.exec_module(module)
        part = module.load_human_head(args.human_head).part("head")
        q = part.faces.astype(np.int64)
        rows.append(checks("human head (h-head), bare", part.vertices, np.concatenate([q[:, :3], q[:, [0, 2, 3]]])))
    for path in args.meshes:
        try:
            if path.name in by_hand:
                rows.append(checks(f"{path.name}, landmarks by hand", *read_mesh(path), by_hand[path.name]))
            else:
                rows.append(checks(path.name, *read_mesh(path)))
        except Exception as exc:  # noqa: BLE001 - a table row says what failed
            rows.append({"mesh": path.name, "vertices": "-", "front,up": f"FAILED: {exc}"})
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    if args.human_head:
        print()
        print(human_ground_truth(args.human_head))


if __name__ == "__main__":
    main()

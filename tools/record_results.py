"""Copy the measured eval and bench results (docs/eval/*.json, docs/bench.json) into weights/manifest.json.

    python tools/record_results.py            # after `python -m core eval ... --json docs/eval/X.json` and bench

File hashes and training records in the manifest are left as the export wrote them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.weights_io import read_manifest, write_manifest  # noqa: E402

EVAL_COMMAND = (
    "python -m core eval --model {model} --data data/corpus --split heldout --max-clips N --json docs/eval/{model}.json"
)
REAL_EVAL_COMMAND = (
    "python -m core eval --model {model} --data data/real_speech --split real-dev --max-clips N "
    "--json docs/eval/{model}_real.json"
)
REAL_ALL_COMMAND = (
    "python -m core eval --model {model} --data data/real_speech --split real-dev --max-clips 1000 "
    "--json docs/eval/{model}_realall_robustness.json"
)
INDEPENDENT_COMMAND = (
    "python -m core eval --model {model} --data data/independent_check --split independent "
    "--json docs/eval/{model}_independent.json"
)
REAL_KEYS = ("bilabial_closure_hit_rate", "vowel_bilabial_aperture_auc", "silence_ratio", "lag_ms")
SUMMARY_KEYS = (
    "lve", "upper_face_error", "fdd", "bilabial_closure_hit_rate", "vowel_bilabial_aperture_auc",
    "silence_closed_fraction", "diversity", "emotion_swap_upper_face_shift", "speaker_retrieval_top1",
    "emotion_accuracy", "compute_seconds_per_audio_second",
)  # fmt: skip


def _summary(report: dict) -> dict:
    out = {k: round(report[k], 4) for k in SUMMARY_KEYS if isinstance(report.get(k), float)}
    out.update({k: report[k] for k in ("clips", "weights_sha256") if k in report})
    if "heldout_voices" in report:
        out["heldout_voices"] = {k: round(v, 4) for k, v in report["heldout_voices"].items() if k in SUMMARY_KEYS}
    return out


def _real_summary(report: dict) -> dict:
    out = {k: round(report[k], 4) for k in REAL_KEYS if isinstance(report.get(k), float)}
    out.update({k: report[k] for k in ("clips", "seconds", "speakers", "weights_sha256") if k in report})
    out["robustness"] = {
        kind: {k: round(v, 4) for k, v in values.items() if k in REAL_KEYS}
        for kind, values in report.get("robustness", {}).items()
    }
    return out


def _scored_shipped(report: dict, model: str, manifest: dict) -> bool:
    """Whether `report` is an eval through the engine (it carries the sha256 of the weights it scored) of the file
    `model` ships as now; an eval of older weights, or from the old loop, is left out (and named)."""
    shipped = manifest["files"].get(f"{model}.safetensors", {}).get("sha256")
    if shipped is not None and report.get("weights_sha256") == shipped:
        return True
    print(f"skipped the {model} eval: it scored {report.get('weights_sha256', 'unknown weights')}, ships {shipped}")
    return False


def _shipped_evals(suffix: str, summarise, manifest: dict) -> dict:
    """model -> summarise(docs/eval/{model}{suffix}.json), for the teacher and student evals of the shipped files."""
    found = {}
    for model in ("teacher", "student"):
        path = REPO / "docs" / "eval" / f"{model}{suffix}.json"
        if path.is_file() and _scored_shipped(report := json.loads(path.read_text()), model, manifest):
            found[model] = summarise(report)
    return found


def main() -> None:
    weights = REPO / "weights"
    manifest = read_manifest(weights)
    evals = _shipped_evals("", _summary, manifest)
    extra = {k: v for k, v in manifest.items() if k not in ("format_version", "files")}
    extra["eval"] = {"command": EVAL_COMMAND, "split": "heldout_voices + heldout_sentences", **evals}
    if real := _shipped_evals("_real", _real_summary, manifest):
        extra["eval_real_speech"] = {"command": REAL_EVAL_COMMAND, "split": "real-dev (data/real_speech)", **real}
    # the whole real-dev set (the bar is read on it; the 80-clip eval above is a sample of it)
    if real_all := _shipped_evals("_realall_robustness", _real_summary, manifest):
        extra["eval_real_speech_all"] = {"command": REAL_ALL_COMMAND, "split": "real-dev, every clip", **real_all}
    # the reserved recordings nothing was trained or tuned on (core/data/independent_check.py)
    if independent := _shipped_evals("_independent", _real_summary, manifest):
        extra["eval_independent"] = {"command": INDEPENDENT_COMMAND, "split": "independent", **independent}
    bench = REPO / "docs" / "bench.json"
    if bench.is_file():
        extra["bench"] = {"command": "python -m core bench --json docs/bench.json", **json.loads(bench.read_text())}
    files = {
        name: {k: v for k, v in entry.items() if k not in ("sha256", "bytes")}
        for name, entry in manifest["files"].items()
    }
    write_manifest(weights, files, extra)
    print(f"recorded {sorted(evals)} eval{' and bench' if bench.is_file() else ''} in {weights / 'manifest.json'}")


if __name__ == "__main__":
    main()

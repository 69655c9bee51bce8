"""tools/record_results.py: only evals of the weights that ship reach the manifest, with what they scored."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "record_results.py"
spec = importlib.util.spec_from_file_location("record_results", TOOL)
record_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(record_results)

MANIFEST = {"files": {"student.safetensors": {"sha256": "a" * 64}, "teacher.safetensors": {"sha256": "b" * 64}}}


def test_only_an_eval_of_the_shipped_file_is_recorded(capsys):
    assert record_results._scored_shipped({"weights_sha256": "a" * 64}, "student", MANIFEST)
    assert not record_results._scored_shipped({"weights_sha256": "b" * 64}, "student", MANIFEST)  # the teacher's
    assert not record_results._scored_shipped({"weights_sha256": "c" * 64}, "student", MANIFEST)  # older weights
    assert not record_results._scored_shipped({"lve": 0.2}, "student", MANIFEST)  # the old loop: no sha256
    assert not record_results._scored_shipped({"weights_sha256": "a" * 64}, "baseline", MANIFEST)  # not shipped
    assert "skipped the student eval" in capsys.readouterr().out


def test_the_summary_says_which_weights_and_how_many_clips_it_scored():
    summary = record_results._summary({"lve": 0.18761, "clips": 40, "weights_sha256": "a" * 64, "model": "student"})
    assert summary == {"lve": 0.1876, "clips": 40, "weights_sha256": "a" * 64}


def test_the_manifest_records_the_whole_dev_set_eval_of_the_files_that_ship():
    import json

    repo = TOOL.parents[1]
    manifest = json.loads((repo / "weights" / "manifest.json").read_text())
    for model in ("student", "teacher"):
        report = json.loads((repo / "docs" / "eval" / f"{model}_realall_robustness.json").read_text())
        recorded = manifest["eval_real_speech_all"][model]
        assert recorded == record_results._real_summary(report)  # what the README's bar paragraph reads
        assert recorded["weights_sha256"] == manifest["files"][f"{model}.safetensors"]["sha256"]
        assert set(recorded["robustness"]) == {"telephone", "reverb", "noise", "mp3"}

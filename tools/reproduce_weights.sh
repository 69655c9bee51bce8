#!/usr/bin/env bash
# Rebuild weights/ from nothing: corpus, teacher, baseline, student, evaluation, benchmark.
# About 3.5 h on a 2-core CPU (a GPU is used when present). Every step resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -f data/corpus/manifest.json ] || $PY -m core data generate --preset full --out data/corpus --jobs 2
[ -f data/encoder_voices/manifest.json ] ||
  $PY -m core data generate --preset encoder-voices --out data/encoder_voices --jobs 2   # phase A's extra speakers
[ -f data/real_speech/manifest.json ] ||
  $PY -m core data real-speech --out data/real_speech   # real human speech (Debian packages): distillation audio + real-dev
$PY -m core train teacher --config configs/teacher.json
$PY -m core train baseline --config configs/baseline.json
$PY -m core export-teacher --run runs/teacher --weights weights
$PY -m core distill --config configs/distill.json --weights weights   # the student, synthetic voices
$PY -m core distill --config configs/distill_ears.json --weights weights   # phase C: its ears retrained on real speech
$PY -m core distill --config configs/distill_ears_round2.json --weights weights   # phase C round 2
$PY -m core distill --config configs/distill_ears_round4.json --weights weights   # phase C round 4
$PY -m core set-guidance 2 --weights weights --model student   # it samples with classifier-free guidance 2
$PY -m core distill --config configs/distill_ears_round17.json --weights weights   # round 17: round 15 + short lines cropped whole + 12 degraded views (ships)
mkdir -p docs/eval
for model in teacher student baseline; do
  $PY -m core eval --model "$model" --data data/corpus --split heldout --max-clips 60 --json "docs/eval/$model.json"
done
for model in teacher student; do
  $PY -m core eval --model "$model" --data data/real_speech --split real-dev --max-clips 80 --json "docs/eval/${model}_real.json"
  # every real-dev clip, with the robustness table: what the issue's bar is read on
  $PY -m core eval --model "$model" --data data/real_speech --split real-dev --max-clips 1000 --json "docs/eval/${model}_realall_robustness.json"
done
# the independent check: reserved recordings, scored only after everything above is fixed (never tuned on)
[ -f data/independent_check/manifest.json ] || $PY -m core data independent-check --out data/independent_check
for model in teacher student; do
  $PY -m core eval --model "$model" --data data/independent_check --split independent --json "docs/eval/${model}_independent.json"
done
$PY -m core bench --json docs/bench.json
$PY tools/record_results.py

#!/usr/bin/env bash
# The shipped student's speed on a GPU (run on the device tool's machine): one minute and ten minutes of the demo
# line, torch on CUDA, through the same timed case as `python -m core bench` (model load excluded). Writes
# ${OUT:-.}/bench_gpu.json. The teacher is not timed here: its Whisper weights do not travel to that machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
tmp=$(mktemp -d)
$PY - "$tmp" <<'PYEOF'
import sys

import numpy as np
import soundfile as sf

from core.audio import load_audio

line = load_audio("core/assets/demo/demo_line.wav")
for name, seconds in (("minute", 60), ("ten_minutes", 600)):
    sf.write(f"{sys.argv[1]}/{name}.wav", np.tile(line, seconds * 16000 // len(line) + 1)[: seconds * 16000], 16000)
PYEOF
$PY -m core bench --case student --device cuda --weights weights --audio "$tmp/minute.wav" > "$tmp/student.json"
$PY -m core bench --case long --device cuda --weights weights --audio "$tmp/ten_minutes.wav" > "$tmp/long.json"
$PY - "$tmp" "${OUT:-.}/bench_gpu.json" <<'PYEOF'
import json
import sys

student, long = (json.loads(open(f"{sys.argv[1]}/{n}.json").read().splitlines()[-1]) for n in ("student", "long"))
result = {
    "gpu": student.get("gpu"), "student_s": student["seconds"], "student_runs": student["seconds_runs"],
    "student_rtf": student["audio_seconds"] / student["seconds"], "student_gpu_peak_mb": student.get("gpu_peak_mb"),
    "long_audio_s": long["audio_seconds"], "long_s": long["seconds"], "long_gpu_peak_mb": long.get("gpu_peak_mb"),
    "long_rtf": long["audio_seconds"] / long["seconds"], "device": student["device"],
}
open(sys.argv[2], "w").write(json.dumps(result, indent=2) + "\n")
print(json.dumps(result, indent=2))
PYEOF

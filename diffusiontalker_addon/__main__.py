"""`python -m diffusiontalker_addon benchmark [--frames N]`: the key-writing benchmark, for `python -m core bench`.

Needs the `bpy` module (or Blender's Python); prints one JSON line: frames, channels, seconds, keys_per_second.
"""

import sys

from .action_writer import benchmark_main

if len(sys.argv) < 2 or sys.argv[1] != "benchmark":
    print("usage: python -m diffusiontalker_addon benchmark [--frames N] [--channels C] [--repeat R]", file=sys.stderr)
    sys.exit(2)
sys.exit(benchmark_main(sys.argv[2:]))

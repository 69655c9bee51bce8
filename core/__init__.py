"""DiffusionTalker core: audio, rig, data, models, training and inference. Plain Python + torch; no Blender."""

__version__ = "0.1.0"

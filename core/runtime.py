"""The runtime: everything that turns a voice recording into a face animation, behind one import.

    from core.runtime import AnimationRequest, load_engine, write_animation

The Blender add-on (diffusiontalker_addon/), the CLI's `animate` and the batch script import core only from here;
build.py ships exactly this module's import closure (+ the student, its styles and the demo head assets). The
implementation stays in the modules named below; this module only gathers their public names.

Direction of imports: training, data generation and evaluation may import the runtime, never the reverse
(tests/test_core_import_graph.py checks it), so the shipped closure never holds TTS wrappers, dataset code,
subprocess or pickle.
"""

from __future__ import annotations

from pathlib import Path

# Animate options: ranges and argparse types shared by the CLI, batch and the panel (the module, so its names can change
# without this list).
from core import animate_options as animate_options
from core.animate_options import (
    ANIMATE_OPTIONS,
    AUDIO_FILE_GLOB,
    AUDIO_SUFFIXES,
    BATCH,
    BLENDER,
    CLI,
    OPTIONS_BY_NAME,
    AnimateOption,
    OptionValueError,
    add_flags,
    check_values,
    options_for,
)

# Writing takes to files (.npz, Live Link Face .csv).
from core.animation_files import OUTPUT_SUFFIXES, OutputPathError, check_output_path, write_animation

# Jobs: a request in, an Animation out, progress and cancel in between.
from core.animation_job import (
    Animation,
    AnimationEngine,
    AnimationJob,
    AnimationRequest,
    JobCancelled,
    ProgressCallback,
)

# Audio: loading any rate / channel count as 16 kHz mono, checks, resampling.
from core.audio import (
    SAMPLE_RATE,
    AudioError,
    load_audio,
    resample_audio,
    supported_extensions,
    validate_speech_audio,
)

# Blinks layered over the model's take.
from core.blink_layer import DEFAULT_BLINKS_PER_MINUTE, add_blinks

# The bundled demo clip's settings and the frames its contact sheet shows (the clip is made by
# core/data/demo_clip_generation.py, which is data generation and not part of the runtime).
from core.data.demo_clip import (
    DEMO_EMOTION,
    DEMO_FPS,
    DEMO_SEED,
    DEMO_TEXT,
    DEMO_VOICE,
    demo_clip_paths,
    extreme_lip_frames,
    marked_phone_frames,
)
from core.data.phonemes import BILABIALS

# Resampling animation curves to another frame rate.
from core.data.resample import resample_weights

# The engines: the trained model (torch or numpy backend) and the reference-targets fallback.
from core.inference import (
    DiffusionTalkerEngine,
    choose_backend,
    load_engine,
    torch_available,
)
from core.reference_engine import REFERENCE_SOURCE_LABEL, ReferenceTargetsEngine

# The rig: ARKit-52 names and regions, name mapping onto other rigs, key transfer onto any face mesh.
from core.rig.arkit import ARKIT_NAMES, REGION_PATTERNS, channels_matching, region_of

# The demo heads (procedural MediaPipe mask and the MakeHuman head).
from core.rig.demo_head import FACE_PART_LOOKS, FACE_PARTS, load_demo_head, to_blender_frame
from core.rig.descriptor import ARKIT52, RigDescriptor, RigError
from core.rig.human_head import MATERIAL_LOOKS, PART_MATERIALS, HeadPart, load_human_head
from core.rig.key_transfer import (
    AXES,
    FaceFrame,
    FaceNotFoundError,
    KeyTransfer,
    face_frame,
    guess_face_frame,
    landmarks_by_size,
    procedural_template,
    propose_mesh_landmarks,
    transfer_keys,
)
from core.rig.name_mapping import map_channel_names, preset_names

# Styles: the library of identities and emotions, and their readable names.
from core.style_library import DEFAULT_IDENTITY, NEUTRAL_EMOTION, StyleLibrary
from core.style_names import emotion_display_name, identity_display_name

# Weights files: the errors they raise and the hint that says how to fix them.
from core.weights_io import FIX_HINT, MANIFEST_NAME, WeightsError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"  # a source checkout's trained model

__all__ = [
    "ARKIT_NAMES",
    "AXES",
    "BILABIALS",
    "DEFAULT_BLINKS_PER_MINUTE",
    "DEFAULT_IDENTITY",
    "DEMO_EMOTION",
    "DEMO_FPS",
    "DEMO_SEED",
    "DEMO_TEXT",
    "DEMO_VOICE",
    "FACE_PARTS",
    "FACE_PART_LOOKS",
    "FIX_HINT",
    "MANIFEST_NAME",
    "MATERIAL_LOOKS",
    "NEUTRAL_EMOTION",
    "OUTPUT_SUFFIXES",
    "PART_MATERIALS",
    "REFERENCE_SOURCE_LABEL",
    "REGION_PATTERNS",
    "WEIGHTS_DIR",
    "Animation",
    "AnimationEngine",
    "AnimationJob",
    "AnimationRequest",
    "AudioError",
    "DiffusionTalkerEngine",
    "FaceFrame",
    "FaceNotFoundError",
    "HeadPart",
    "JobCancelled",
    "KeyTransfer",
    "OutputPathError",
    "ProgressCallback",
    "ReferenceTargetsEngine",
    "StyleLibrary",
    "WeightsError",
    "add_blinks",
    "animate_options",
    "AUDIO_FILE_GLOB",
    "AUDIO_SUFFIXES",
    "BATCH",
    "BLENDER",
    "CLI",
    "OPTIONS_BY_NAME",
    "ANIMATE_OPTIONS",
    "AnimateOption",
    "OptionValueError",
    "SAMPLE_RATE",
    "add_flags",
    "check_values",
    "options_for",
    "channels_matching",
    "ARKIT52",
    "RigDescriptor",
    "RigError",
    "check_output_path",
    "choose_backend",
    "demo_clip_paths",
    "emotion_display_name",
    "extreme_lip_frames",
    "face_frame",
    "guess_face_frame",
    "identity_display_name",
    "landmarks_by_size",
    "load_audio",
    "load_demo_head",
    "load_engine",
    "load_human_head",
    "map_channel_names",
    "marked_phone_frames",
    "preset_names",
    "procedural_template",
    "propose_mesh_landmarks",
    "region_of",
    "resample_audio",
    "resample_weights",
    "supported_extensions",
    "to_blender_frame",
    "transfer_keys",
    "torch_available",
    "validate_speech_audio",
    "write_animation",
]

"""Loaders for public facial-animation datasets, one module per format, and `import_dataset` for whole folders.

ARKit-52 blendshape datasets (BEAT, 3D-ETF, Live Link Face) load into core.data.clip.Clip, channels matched by
name; VOCASET (vertex motion) loads into vertex_motion.VertexMotionClip and is stored as motion-basis coefficients.
"""

from core.data.datasets.beat import load_beat_clip
from core.data.datasets.channels import ChannelMatch, ChannelNameError, match_arkit_channels
from core.data.datasets.imported_clip import DatasetError, ImportedClip
from core.data.datasets.importer import DATASET_FORMATS, import_dataset
from core.data.datasets.live_link_face import load_live_link_face_csv
from core.data.datasets.motion_basis import MotionBasis, fit_motion_basis
from core.data.datasets.safe_pickle import UnsafePickleError, load_numpy_pickle
from core.data.datasets.three_d_etf import load_3detf_clip
from core.data.datasets.vertex_motion import (
    BasisMotionClip,
    VertexMotionClip,
    load_basis_motion_clip,
    save_basis_motion_clip,
)
from core.data.datasets.vocaset import VocasetSequence, find_vocaset_sequences, load_vocaset_templates

__all__ = [
    "DATASET_FORMATS",
    "BasisMotionClip",
    "ChannelMatch",
    "ChannelNameError",
    "DatasetError",
    "ImportedClip",
    "MotionBasis",
    "UnsafePickleError",
    "VertexMotionClip",
    "VocasetSequence",
    "find_vocaset_sequences",
    "fit_motion_basis",
    "import_dataset",
    "load_3detf_clip",
    "load_basis_motion_clip",
    "load_beat_clip",
    "load_live_link_face_csv",
    "load_numpy_pickle",
    "load_vocaset_templates",
    "match_arkit_channels",
    "save_basis_motion_clip",
]

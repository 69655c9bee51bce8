"""Shape keys for a bare head mesh, carried over from a template face (issue 16, part 4).

    frame = guess_face_frame(vertices)                     # which way the face looks (or give front=/up=)
    landmarks = propose_mesh_landmarks(vertices, triangles, frame, template)   # the user may move these
    result = transfer_keys(vertices, triangles, landmarks, frame, template)               # name -> (V, 3) deltas

`make_arkit_keys` does all three. No Blender here: diffusiontalker_addon/key_transfer.py reads and writes the mesh.
"""

from __future__ import annotations

import numpy as np

from core.rig.key_transfer.face_frame import AXES, FaceFrame, FaceNotFoundError, face_frame, guess_face_frame
from core.rig.key_transfer.landmarks import FIT_LANDMARKS, LANDMARK_NAMES
from core.rig.key_transfer.template import TransferTemplate, procedural_template
from core.rig.key_transfer.transfer import KeyTransfer, landmarks_by_size, propose_mesh_landmarks, transfer_keys

__all__ = [
    "AXES",
    "FIT_LANDMARKS",
    "LANDMARK_NAMES",
    "FaceFrame",
    "FaceNotFoundError",
    "KeyTransfer",
    "TransferTemplate",
    "face_frame",
    "guess_face_frame",
    "landmarks_by_size",
    "make_arkit_keys",
    "procedural_template",
    "propose_mesh_landmarks",
    "transfer_keys",
]


def make_arkit_keys(
    vertices: np.ndarray,
    triangles: np.ndarray,
    front: str | None = None,
    up: str | None = None,
    template: TransferTemplate | None = None,
) -> KeyTransfer:
    """The whole transfer with automatic landmarks: (V, 3) vertices, (F, 3) triangles -> KeyTransfer."""
    template = template or procedural_template()
    frame = guess_face_frame(vertices, front, up, triangles)
    landmarks = propose_mesh_landmarks(vertices, triangles, frame, template)
    return transfer_keys(vertices, triangles, landmarks, frame, template)

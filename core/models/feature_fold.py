"""The student's audio path folded for shipping: the same function with fewer parameters.

During distillation the student encoder ends in `Linear(width -> 512)` (it imitates Whisper's 512 features, L_ae),
and the denoiser and the personalizer each read those features through `LayerNorm(512)` + `Linear(512 -> w)`.
Nothing else reads the 512 features at run time, so each `Linear -> LayerNorm -> Linear` chain is one function of the
encoder's `width`-sized state h, and it can be written with width-sized matrices alone:

    x = W h + b                      (512,)   the encoder's output layer
    LayerNorm(x) = g * (x - mean(x)) / s + beta,   s = sqrt(var(x) + eps)
    x - mean(x) = C h + c            (C = W minus its column means, c = b minus its mean)
    var(x) = |C h + c|^2 / 512 = |R [h; 1]|^2     R: upper triangular, from the QR of [C c] / sqrt(512)
    out = A LayerNorm(x) + a = (M h + m) / s + k,  M = A diag(g) C, m = A (g * c), k = A beta + a

Exact up to float round-off. The encoder keeps everything but its output layer. For the shipped student (width 192)
it saves about 128 k parameters: two 512-wide LayerNorm + Linear pairs and the 192 -> 512 layer become two 193 x 193
norm factors and two width-sized input matrices.

The folded map itself (FoldedFeatureProjection) lives in core/models/audio_input.py, which the networks import; this
module, used only at export, imports the networks.

Interpolation to the motion frame rate commutes with the (affine) output layer, so resampling the encoder's state h
instead of its 512 features changes nothing either.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
import torch.nn as nn

from core.models.audio_input import FoldedFeatureProjection
from core.models.student_audio_encoder import StudentAudioEncoder
from core.models.talker import DiffusionTalker


@torch.no_grad()
def fold_projection(first: nn.Linear, norm: nn.LayerNorm, second: nn.Linear) -> FoldedFeatureProjection:
    """The exact fold of `second(norm(first(h)))`, computed in float64."""
    w, b = first.weight.double(), first.bias.double()  # (D, in), (D,)
    dim = w.shape[0]
    centred_w, centred_b = w - w.mean(0, keepdim=True), b - b.mean()
    factor = torch.linalg.qr(torch.cat([centred_w, centred_b[:, None]], dim=1) / dim**0.5, mode="r").R
    factor = torch.cat([factor, factor.new_zeros(w.shape[1] + 1 - factor.shape[0], factor.shape[1])])  # D < in + 1
    gain, beta = norm.weight.double(), norm.bias.double()
    a = second.weight.double()  # (out, D)
    folded = FoldedFeatureProjection(w.shape[1], a.shape[0], eps=norm.eps)
    folded.norm_factor.copy_(factor)
    folded.weight.copy_(a @ (gain[:, None] * centred_w))
    folded.shift.copy_(a @ (gain * centred_b))
    folded.bias.copy_(a @ beta + second.bias.double())
    return folded


@torch.no_grad()
def fold_student_audio_path(
    encoder: StudentAudioEncoder, talker: DiffusionTalker
) -> tuple[StudentAudioEncoder, DiffusionTalker]:
    """The same pair with the encoder's output layer folded into the denoiser's and the personalizer's audio input
    (configs marked `folded`); the inputs are left unchanged."""
    if encoder.config.output_folded:
        raise ValueError("this student's audio path is folded already")
    folded_encoder = StudentAudioEncoder(replace(encoder.config, output_folded=True))
    folded_encoder.load_state_dict({k: v for k, v in encoder.state_dict().items() if not k.startswith("out.")})
    width = encoder.config.width
    config = copy.deepcopy(talker.config)
    config.denoiser = replace(config.denoiser, audio_dim=width, audio_input_folded=True)
    config.personalizer = replace(config.personalizer, audio_dim=width, audio_input_folded=True)
    folded_talker = DiffusionTalker(config)
    state = {k: v for k, v in talker.state_dict().items() if ".audio_in." not in k and ".audio_norm." not in k}
    for name, module in (("denoiser", talker.denoiser), ("personalizer", talker.personalizer)):
        projection = fold_projection(encoder.out, module.audio_norm, module.audio_in)
        state.update({f"{name}.audio_in.{k}": v.float() for k, v in projection.state_dict().items()})
    folded_talker.load_state_dict(state)
    return folded_encoder.eval(), folded_talker.eval()

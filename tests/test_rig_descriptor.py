"""The rig is data: ARKit-52 as a descriptor built from core/rig/arkit.py, another rig (a small vertex basis) carried by
a model's config through its weights file into the engine and every Animation, and metrics that read the rig's roles
and say what a rig lacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_inference import randomize, tiny_prosody_config, tiny_styles

from core.audio import save_wav
from core.blink_layer import add_blinks, rig_can_blink
from core.inference import STUDENT_FILE, WindowPlan, load_engine, save_student
from core.metrics import bilabial_closure_hit_rate, lip_error, upper_face_error
from core.models.denoiser import DenoiserConfig
from core.models.personalizer import PersonalizerConfig
from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig
from core.models.talker import DiffusionTalker, TalkerConfig
from core.rig.arkit import ARKIT_NAMES, lower_face_indices
from core.rig.descriptor import ARKIT52, RigDescriptor, RigError
from core.rig.lip_measures import lip_aperture
from core.weights_io import load_listed_weights, read_manifest

REPO = Path(__file__).resolve().parents[1]
VERTEX_GRID = 3  # the vertex-basis rig's mesh: a 3 x 3 grid of vertices


def grid_vertices() -> np.ndarray:
    """(9, 3) the flat grid the vertex-basis rig was "built" on."""
    u, v = np.meshgrid(np.arange(VERTEX_GRID), np.arange(VERTEX_GRID), indexing="ij")
    return np.stack([u.ravel(), v.ravel(), np.zeros(u.size)], axis=1).astype(np.float32)


def vertex_basis_rig(with_roles: bool = True) -> RigDescriptor:
    """A 6-channel PCA-like vertex basis over the grid (seeded), as the VOCASET importer would describe one."""
    basis = np.random.default_rng(7).normal(0.0, 0.2, (6, VERTEX_GRID**2, 3)).astype(np.float32)  # (6, 9, 3)
    names = tuple(f"pca_{i:02d}" for i in range(6))
    roles = {"lower_face": names[:3], "upper_face": names[3:5]} if with_roles else {}
    return RigDescriptor(
        name="grid-pca6",
        names=names,
        regions=("jaw", "mouth", "mouth", "eyes", "brows", "other"),
        loss_weights=(2.0, 2.0, 2.0, 1.0, 1.0, 1.0),
        roles=roles,
        # the lip gap of a linear basis is linear in its weights: these are its coefficients
        lip_aperture_terms={"pca_00": 0.8, "pca_01": -0.3} if with_roles else {},
        basis=basis,
    )


def rig_talker_config(rig: RigDescriptor) -> TalkerConfig:
    """tiny_prosody_config (the shipped student's shape, tiny) speaking `rig`."""
    base = tiny_prosody_config()
    channels = {"motion_dim": rig.num_channels}
    return TalkerConfig(
        personalizer=PersonalizerConfig(**{**base.personalizer.__dict__, **channels}),
        denoiser=DenoiserConfig(**{**base.denoiser.__dict__, **channels}),
        rig=rig.to_dict(),
    )


def write_rig_student(weights_dir: Path, rig: RigDescriptor, seed: int = 0) -> dict[str, str]:
    """A tiny, randomised 2-step student that speaks `rig`, saved like the shipped one (the rig in its metadata)."""
    torch.manual_seed(seed)
    encoder = randomize(StudentAudioEncoder(StudentEncoderConfig.tiny(out_dim=16)), seed + 1)
    talker = randomize(DiffusionTalker(rig_talker_config(rig)), seed + 2)
    talker.set_motion_stats(torch.full((rig.num_channels,), 0.4), torch.full((rig.num_channels,), 0.25))
    return save_student(
        weights_dir, encoder, talker, tiny_styles(talker, seed),
        window=WindowPlan(window_frames=20, prefix_frames=5, crossfade_frames=3),
    )  # fmt: skip


def write_voice(path: Path, seconds: float = 1.5, rate: int = 16_000) -> Path:
    """A vowel-like buzz with a syllable rhythm: speech-shaped enough for the audio checks."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(130 + 15 * np.sin(2 * np.pi * 2 * t)) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 15)) * (0.4 + 0.6 * np.sin(2 * np.pi * 3 * t) ** 2)
    save_wav(path, (0.3 * voice / np.abs(voice).max()).astype(np.float32), rate)
    return path


# ---- the descriptor ---------------------------------------------------------------------------------------------


def test_arkit52_is_the_arkit_names_with_the_talkers_historic_loss_weights():
    assert ARKIT52.names == ARKIT_NAMES and ARKIT52.is_arkit52
    expected = np.ones(52)
    expected[lower_face_indices()] = 2.0  # what DiffusionTalker weighted before the rig was data
    np.testing.assert_array_equal(np.array(ARKIT52.loss_weights), expected)
    regions = dict(zip(ARKIT52.names, ARKIT52.regions, strict=True))
    assert (regions["jawOpen"], regions["mouthClose"], regions["eyeBlinkLeft"]) == ("jaw", "mouth", "eyes")
    assert (regions["cheekPuff"], regions["noseSneerLeft"], regions["tongueOut"]) == ("cheeks", "nose", "tongue")
    assert ARKIT52.names[ARKIT52.role_indices("jaw_open", "test")[0]] == "jawOpen"
    # The hash names the rig a model speaks: it must not drift between runs, machines or Python versions.
    assert ARKIT52.sha256 == "f75cff6946e973811f226f98e1657fd4a84dc9f821d2e80cc065a895bc433b47"


def test_a_vertex_basis_rig_round_trips_through_json_with_its_basis_and_hash():
    rig = vertex_basis_rig()
    again = RigDescriptor.from_dict(json.loads(json.dumps(rig.to_dict())))
    assert again == rig and again.sha256 == rig.sha256 and not again.is_arkit52
    np.testing.assert_array_equal(again.basis, rig.basis)
    assert again.vertex_count == VERTEX_GRID**2 and again.lip_aperture_terms == rig.lip_aperture_terms
    moved = RigDescriptor.from_dict({**rig.to_dict(), "loss_weights": [1.0] * 6})
    assert moved != rig and moved.sha256 != rig.sha256


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"names": ["a", "A", "b", "c", "d", "e"]}, "more than once"),
        ({"regions": ["jaw"] * 5 + ["ears"]}, "unknown region"),
        ({"loss_weights": [1.0] * 5}, "6 channels but 6 regions and 5 loss weights"),
        ({"roles": {"jaw_open": ["jawOpen"]}}, "not channels"),
        ({"roles": {"smile": ["pca_00"]}}, "unknown role"),
    ],
)
def test_malformed_descriptors_are_refused_with_what_is_wrong(change, message):
    with pytest.raises(RigError, match=message):
        RigDescriptor.from_dict({**vertex_basis_rig().to_dict(), **change})


def test_a_wrong_shaped_basis_is_refused():
    values = vertex_basis_rig().to_dict()
    values["basis"]["shape"] = [6, 27, 1]
    with pytest.raises(RigError, match="vertex basis must be finite"):
        RigDescriptor.from_dict(values)


# ---- metrics and layers read the rig's roles --------------------------------------------------------------------


def test_lip_metrics_read_the_rigs_roles_and_name_what_a_rig_lacks():
    rig = vertex_basis_rig()
    weights = np.zeros((30, 6))
    weights[:, 0] = np.linspace(0.0, 0.5, 30)  # pca_00 opens the lips (coefficient 0.8)
    weights[10:20, 1] = 1.0  # pca_01 closes them (-0.3)
    aperture = lip_aperture(weights, rig=rig)
    np.testing.assert_allclose(aperture, np.clip(0.8 * weights[:, 0] - 0.3 * weights[:, 1], 0, None))
    gt = weights.copy()
    gt[:, 3] += 0.5  # the eyes differ: not a lower-face error
    assert lip_error(weights, gt, rig) == 0.0 and upper_face_error(weights, gt, rig) == pytest.approx(0.5)
    hits = bilabial_closure_hit_rate(weights, ["B"], np.array([[0.4, 0.6]]), 30.0, rig=rig)
    assert hits == 1.0  # frames 12-18: 0.8 * ~0.2 - 0.3 < 0.1

    bare = vertex_basis_rig(with_roles=False)
    with pytest.raises(RigError, match="lip error needs the rig's 'lower_face' channels"):
        lip_error(weights, gt, bare)
    with pytest.raises(RigError, match="rig 'grid-pca6' says neither"):
        bilabial_closure_hit_rate(weights, ["B"], np.array([[0.4, 0.6]]), 30.0, rig=bare)


def test_the_blink_layer_needs_eyelids_and_says_so():
    rig = vertex_basis_rig()
    assert rig_can_blink(ARKIT52) and not rig_can_blink(rig)
    with pytest.raises(RigError, match="the blink layer needs the rig's 'blink_left' channels"):
        add_blinks(np.zeros((60, 6), np.float32), 30.0, np.zeros(32_000, np.float32), seed=0, rig=rig)


# ---- the talker and the engine carry the rig --------------------------------------------------------------------


def test_the_talkers_channel_weights_are_its_rigs_loss_weights():
    legacy = DiffusionTalker(TalkerConfig.tiny())
    assert legacy.rig == ARKIT52
    np.testing.assert_array_equal(legacy.channel_weights.numpy(), np.array(ARKIT52.loss_weights, np.float32))
    rig = vertex_basis_rig()
    talker = DiffusionTalker(TalkerConfig.tiny(rig=rig))
    assert talker.rig == rig and talker.config.denoiser.motion_dim == 6
    np.testing.assert_array_equal(talker.channel_weights.numpy(), np.array(rig.loss_weights, np.float32))
    assert TalkerConfig.from_dict(talker.config.to_dict()) == talker.config
    with pytest.raises(ValueError, match="rig has 6 channels, personalizer motion_dim 52"):
        TalkerConfig(denoiser=TalkerConfig.tiny(rig=rig).denoiser, rig=rig.to_dict())


def test_the_shipped_student_is_bit_identical_with_its_rig_spelled_out():
    """The shipped weights name no rig (no "rig" in their talker_config, or "rig": null): they load as ARKit-52 and
    give exactly the take they give with ARKit-52 written into the config, so the weights stay as they are."""
    weights_dir = REPO / "weights"
    tensors, metadata, _ = load_listed_weights(weights_dir, STUDENT_FILE, read_manifest(weights_dir))
    assert metadata["talker_config"].get("rig") is None
    state = {k.removeprefix("talker."): torch.from_numpy(v.copy()) for k, v in tensors.items() if k[:7] == "talker."}
    takes = []
    for config in (metadata["talker_config"], {**metadata["talker_config"], "rig": ARKIT52.to_dict()}):
        talker = DiffusionTalker(TalkerConfig.from_dict(config)).eval()
        talker.load_state_dict(state)
        assert talker.rig == ARKIT52
        takes.append((talker.channel_weights.clone(), talker.generate(_fixed_features(talker), None, steps=2, seed=4)))
    assert torch.equal(takes[0][0], takes[1][0]) and torch.equal(takes[0][1], takes[1][1])


def _fixed_features(talker: DiffusionTalker) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(1, 45, talker.config.denoiser.audio_dim, generator=generator)  # (batch, frames, audio_dim)


def test_a_vertex_basis_model_animates_in_its_rig_on_both_backends(tmp_path):
    rig = vertex_basis_rig()
    write_rig_student(tmp_path / "weights", rig)
    wav = write_voice(tmp_path / "line.wav")
    from core.animation_job import AnimationRequest

    takes = {}
    for backend in ("torch", "numpy"):
        engine = load_engine(tmp_path / "weights", "cpu", backend)
        assert engine.rig == rig
        takes[backend] = engine.animate(AnimationRequest(audio_path=wav, identity="alice"), lambda *_: None, _never())
    for take in takes.values():
        assert take.rig == rig and take.names == rig.names and take.weights.shape == (45, 6)
        assert take.info["rig_sha256"] == rig.sha256 and take.info["blinks_per_minute"] == 0.0  # no eyelids
    np.testing.assert_allclose(takes["torch"].weights, takes["numpy"].weights, atol=1e-4)


def _never():
    import threading

    return threading.Event()

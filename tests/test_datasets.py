"""Dataset import: frame-rate changes, BEAT / 3D-ETF / Live Link Face / VOCASET loaders and folder import.

Every test writes small files in the real formats (1 s of smooth random weights + a sine wav) and reads them back.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import soundfile as sf

from core.data.clip import load_clip
from core.data.datasets import (
    ChannelNameError,
    DatasetError,
    UnsafePickleError,
    find_vocaset_sequences,
    fit_motion_basis,
    import_dataset,
    load_3detf_clip,
    load_basis_motion_clip,
    load_beat_clip,
    load_live_link_face_csv,
    load_numpy_pickle,
    match_arkit_channels,
)
from core.data.datasets.mesh_files import read_mesh_vertices
from core.data.datasets.motion_basis import MotionBasis
from core.data.resample import resample_timed_weights, resample_weights, resampled_frame_count
from core.rig.arkit import ARKIT_NAMES, channel_index


def smooth_curves(frames: int, channels: int = 52, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, frames)[:, None]
    phase = t * rng.uniform(0.5, 2, channels) + rng.uniform(0, 1, channels)
    return (0.5 + 0.4 * np.sin(2 * np.pi * phase)).astype(np.float32)


def write_sine_wav(path, seconds: float = 1.0, rate: int = 44_100, amplitude: float = 0.3) -> None:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)


# --- resampling ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frames", [61, 60, 2, 7])
def test_60_to_30_fps_keeps_first_and_last_frames_exactly(frames):
    source = smooth_curves(frames)
    result = resample_weights(source, 60.0, 30.0)
    assert result.shape == (resampled_frame_count(frames, 60, 30), 52)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result[0], source[0])
    np.testing.assert_array_equal(result[-1], source[-1])


def test_frame_count_spans_the_same_time():
    assert resampled_frame_count(61, 60, 30) == 31  # 1 s exactly
    assert resampled_frame_count(31, 30, 60) == 61
    assert resampled_frame_count(60, 60, 30) == 31  # a 0.983 s span rounds to 1 s
    assert resampled_frame_count(1, 60, 30) == 1 and resampled_frame_count(0, 60, 30) == 0


def test_resampled_frames_sit_at_k_over_fps_without_drift():
    t = np.arange(600) / 60.0  # 10 s of a ramp: linear interpolation is exact on it
    result = resample_weights(np.stack([t, 2 * t], axis=1), 60.0, 24.0)
    np.testing.assert_allclose(result[:-1, 0], np.arange(len(result) - 1) / 24.0, atol=1e-9)


def test_upsampling_interpolates_between_frames_and_stays_in_bounds():
    result = resample_weights(np.array([[0.0], [1.0], [0.0]], np.float32), 30.0, 60.0)
    np.testing.assert_allclose(result[:, 0], [0.0, 0.5, 1.0, 0.5, 0.0])


def test_same_rate_is_a_copy_and_vertex_arrays_resample_too():
    source = np.random.default_rng(1).random((10, 4, 3)).astype(np.float32)
    same = resample_weights(source, 30, 30)
    np.testing.assert_array_equal(same, source)
    assert same is not source
    assert resample_weights(source, 60, 30).shape == (6, 4, 3)


def test_irregular_time_stamps_are_placed_by_time():
    times = np.array([0.0, 0.1, 0.3, 0.4])  # a dropped frame at 0.2 s
    result = resample_timed_weights(times[:, None] * 10, times, 10.0)
    np.testing.assert_allclose(result[:, 0], [0, 1, 2, 3, 4], atol=1e-9)
    with pytest.raises(ValueError, match="increasing"):
        resample_timed_weights(times[:, None], times[::-1], 10.0)
    with pytest.raises(ValueError, match="positive"):
        resample_weights(np.zeros((3, 2)), 0, 30)


# --- channel names ------------------------------------------------------------------------------------------


def test_channel_matching_is_case_insensitive_and_reports_missing_and_unknown():
    match = match_arkit_channels(["JAWOPEN", "HeadYaw", "eyeblinkleft"])
    assert match.source_index[channel_index("jawOpen")] == 0
    assert match.source_index[channel_index("eyeBlinkLeft")] == 2
    assert match.unknown == ("HeadYaw",)
    assert len(match.missing) == 50 and "tongueOut" in match.missing
    weights = match.to_arkit(np.array([[0.7, 9.0, 0.2]]))
    assert weights[0, channel_index("jawOpen")] == pytest.approx(0.7)
    assert weights[0, channel_index("mouthClose")] == 0.0


def test_duplicate_or_foreign_channel_names_are_errors_not_guesses():
    with pytest.raises(ChannelNameError, match="both name"):
        match_arkit_channels(["jawOpen", "JawOpen"])
    with pytest.raises(ChannelNameError, match="none of its"):
        match_arkit_channels(["AU01", "AU02"])


# --- BEAT ---------------------------------------------------------------------------------------------------


def write_beat_clip(folder, stem: str, frames: int = 61, seed: int = 0, drop: str | None = "tongueOut"):
    """A BEAT json at 60 fps with shuffled channel order (and one channel dropped, like BEAT's 51 names)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = smooth_curves(frames, seed=seed)  # ARKit order
    rng = np.random.default_rng(seed + 100)
    order = [i for i in rng.permutation(52) if ARKIT_NAMES[i] != drop]
    doc = {
        "names": [ARKIT_NAMES[i] for i in order],
        "frames": [
            {"weights": weights[f, order].tolist(), "time": f / 60.0, "rotation": [0, 0, 0]} for f in range(frames)
        ],
    }
    (folder / f"{stem}.json").write_text(json.dumps(doc))
    write_sine_wav(folder / f"{stem}.wav", seconds=(frames - 1) / 60.0)
    return weights


def test_beat_json_at_60fps_lands_in_arkit_order_at_30fps(tmp_path):
    source = write_beat_clip(tmp_path, "2_scott_0_1_1")
    imported = load_beat_clip(tmp_path / "2_scott_0_1_1.json", fps=30.0)
    clip = imported.clip
    assert clip.weights.shape == (31, 52) and clip.fps == 30.0
    # Shuffled source columns end up under their own names; 30 fps frame k is 60 fps frame 2k.
    kept = [i for i in range(52) if ARKIT_NAMES[i] != "tongueOut"]
    np.testing.assert_allclose(clip.weights[:, kept], source[::2, kept], atol=1e-6)
    np.testing.assert_array_equal(clip.weights[-1, kept], source[-1, kept])
    assert imported.missing_channels == ("tongueOut",)
    assert np.all(clip.weights[:, channel_index("tongueOut")] == 0)
    assert (clip.speaker, clip.emotion) == ("scott", "neutral")
    assert len(clip.audio) == 16_000


def test_beat_json_that_is_not_beat_gets_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text('{"frames": []}')
    with pytest.raises(DatasetError, match="not a BEAT facial json"):
        load_beat_clip(tmp_path / "x.json")


# --- 3D-ETF -------------------------------------------------------------------------------------------------


def test_3detf_csv_with_shuffled_named_columns_and_ravdess_name(tmp_path):
    weights = smooth_curves(30, seed=3)
    order = np.random.default_rng(3).permutation(52)
    header = ["frame"] + [ARKIT_NAMES[i] for i in order]
    rows = [[str(f)] + [f"{weights[f, i]:.6f}" for i in order] for f in range(30)]
    stem = "01-01-03-02-01-01-12"
    (tmp_path / f"{stem}.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    write_sine_wav(tmp_path / f"{stem}.wav", seconds=1.0)
    imported = load_3detf_clip(tmp_path / f"{stem}.csv", fps=30.0)
    np.testing.assert_allclose(imported.clip.weights, weights, atol=1e-5)
    assert imported.missing_channels == () and imported.ignored_columns == ("frame",)
    assert (imported.clip.speaker, imported.clip.emotion) == ("ravdess_actor12", "happy")


def test_3detf_npy_is_read_in_arkit_order_and_wrong_width_is_refused(tmp_path):
    weights = smooth_curves(30, seed=4)
    np.save(tmp_path / "clip.npy", weights)
    write_sine_wav(tmp_path / "clip.wav")
    imported = load_3detf_clip(tmp_path / "clip.npy", fps=60.0)
    assert imported.clip.weights.shape == (59, 52)
    np.testing.assert_allclose(imported.clip.weights[::2], weights, atol=1e-6)
    np.save(tmp_path / "narrow.npy", weights[:, :40])
    with pytest.raises(DatasetError, match="channel_names"):
        load_3detf_clip(tmp_path / "narrow.npy")


# --- Live Link Face -----------------------------------------------------------------------------------------


def live_link_face_rows(weights: np.ndarray, capture_fps: int, start_frame: int = 50) -> list[str]:
    arkit_caps = [name[0].upper() + name[1:] for name in ARKIT_NAMES]
    extras = ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw"]
    lines = [",".join(["Timecode", "BlendShapeCount", *arkit_caps, *extras])]
    for f in range(weights.shape[0]):
        second, frame = divmod(start_frame + f, capture_fps)
        timecode = f"13:45:{second:02d}:{frame:02d}.{(f * 7) % 1000:03d}"[:-3] + "000"
        values = [f"{v:.6f}" for v in weights[f]] + ["0.1", "0.2", "0.3", "0.4"]
        lines.append(",".join([timecode, "61", *values]))
    return lines


def test_live_link_face_csv_infers_60fps_ignores_head_columns_and_resamples(tmp_path):
    weights = smooth_curves(61, seed=5)
    (tmp_path / "take.csv").write_text("\n".join(live_link_face_rows(weights, 60)) + "\n")
    write_sine_wav(tmp_path / "take.wav")
    imported = load_live_link_face_csv(tmp_path / "take.csv", fps=30.0)
    assert imported.clip.weights.shape == (31, 52)
    np.testing.assert_allclose(imported.clip.weights, weights[::2], atol=1e-5)
    assert imported.ignored_columns == ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw")
    assert imported.missing_channels == ()
    assert any("60 fps" in note and "inferred" in note for note in imported.notes)


def test_live_link_face_short_take_needs_capture_fps(tmp_path):
    weights = smooth_curves(5, seed=6)
    (tmp_path / "short.csv").write_text("\n".join(live_link_face_rows(weights, 60, start_frame=0)) + "\n")
    with pytest.raises(DatasetError, match="capture_fps"):
        load_live_link_face_csv(tmp_path / "short.csv")
    imported = load_live_link_face_csv(tmp_path / "short.csv", fps=60.0, capture_fps=60.0)
    np.testing.assert_allclose(imported.clip.weights, weights, atol=1e-5)
    assert any("no audio" in note for note in imported.notes)


# --- VOCASET ------------------------------------------------------------------------------------------------

VERTS = 40


def vertex_motion(frames: int, seed: int) -> np.ndarray:
    """(frames, VERTS, 3) offsets made of 3 smooth modes: a basis of 3 components explains all of it."""
    rng = np.random.default_rng(seed)
    modes = np.random.default_rng(99).standard_normal((3, VERTS, 3)).astype(np.float32) * 0.01
    t = np.linspace(0, 1, frames)[:, None]
    coefficients = np.sin(2 * np.pi * (t * rng.uniform(1, 3, 3) + rng.uniform(0, 1, 3)))
    return np.einsum("tk,kvc->tvc", coefficients, modes).astype(np.float32)


def write_ascii_ply(path, vertices: np.ndarray) -> None:
    header = (
        f"ply\nformat ascii 1.0\nelement vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
    )
    header += "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    path.write_text(header + "".join(f"{x} {y} {z}\n" for x, y, z in vertices) + "3 0 1 2\n")


def write_binary_ply(path, vertices: np.ndarray) -> None:
    header = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(vertices)}\n"
    header += "property float x\nproperty float y\nproperty float z\nproperty uchar red\nend_header\n"
    table = np.zeros(len(vertices), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1")])
    table["x"], table["y"], table["z"] = vertices.T
    path.write_bytes(header.encode() + table.tobytes())


def test_templates_read_from_ply_ascii_binary_and_obj(tmp_path):
    vertices = np.random.default_rng(0).random((VERTS, 3)).astype(np.float32)
    write_ascii_ply(tmp_path / "a.ply", vertices)
    write_binary_ply(tmp_path / "b.ply", vertices)
    (tmp_path / "c.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in vertices) + "f 1 2 3\n")
    for name in ("a.ply", "b.ply", "c.obj"):
        np.testing.assert_allclose(read_mesh_vertices(tmp_path / name), vertices, atol=1e-6)


def test_motion_basis_recovers_low_rank_motion_and_streaming_matches_exact():
    sequences = [vertex_motion(61, seed) for seed in range(3)]
    exact = fit_motion_basis(sequences, k=3, method="exact")
    streamed = fit_motion_basis(sequences, k=3, method="streaming")
    assert exact.components.dtype == np.float32 and exact.components.shape == (3, VERTS, 3)
    assert exact.explained_ratio == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(streamed.explained_variance, exact.explained_variance, rtol=1e-3)
    np.testing.assert_allclose(np.abs(streamed.components), np.abs(exact.components), atol=1e-4)
    coefficients = exact.project(sequences[1])
    assert coefficients.shape == (61, 3)
    np.testing.assert_allclose(exact.reconstruct(coefficients), sequences[1], atol=1e-5)


def test_vocaset_per_file_layout_imports_as_basis_clips(tmp_path):
    src, out = tmp_path / "vocaset", tmp_path / "out"
    (src / "templates").mkdir(parents=True)
    (src / "vertices_npy").mkdir()
    (src / "wav").mkdir()
    templates = {
        s: np.random.default_rng(i).random((VERTS, 3)).astype(np.float32) for i, s in enumerate(["SubjA", "SubjB"])
    }
    write_ascii_ply(src / "templates" / "SubjA.ply", templates["SubjA"])
    np.save(src / "templates" / "SubjB.npy", templates["SubjB"])
    motion = {}
    for i, subject in enumerate(templates):
        motion[subject] = vertex_motion(61, seed=i)
        flat = (motion[subject] + templates[subject]).reshape(61, -1)  # the (frames, V*3) layout of many repos
        np.save(src / "vertices_npy" / f"{subject}_sentence01.npy", flat)
        write_sine_wav(src / "wav" / f"{subject}_sentence01.wav", seconds=1.0, rate=22_000)

    written = import_dataset("vocaset", src, out, fps=30.0, basis_components=3)
    assert sorted(p.relative_to(out).as_posix() for p in written) == ["SubjA/sentence01.npz", "SubjB/sentence01.npz"]
    basis = MotionBasis.load(out / "motion_basis.npz")
    clip = load_basis_motion_clip(out / "SubjB" / "sentence01.npz")
    assert clip.weights.shape == (31, 3) and clip.fps == 30.0 and clip.subject == "SubjB"
    assert (out / "SubjB" / clip.basis).resolve() == (out / "motion_basis.npz").resolve()
    np.testing.assert_allclose(basis.reconstruct(clip.weights), motion["SubjB"][::2], atol=1e-5)
    assert len(clip.audio) == 16_000
    with pytest.raises(ValueError, match="ARKit"):
        load_clip(out / "SubjB" / "sentence01.npz")  # vertex-motion clips never pass for ARKit clips


def test_vocaset_original_pickle_layout_imports(tmp_path):
    src, out = tmp_path / "vocaset", tmp_path / "out"
    src.mkdir()
    template = np.random.default_rng(5).random((VERTS, 3)).astype(np.float32)
    offsets = vertex_motion(61, seed=7)
    np.save(src / "data_verts.npy", np.concatenate([np.zeros((5, VERTS, 3), np.float32), offsets + template]))
    index = {"FaceTalk_1": {"sentence01": {frame: 5 + frame for frame in range(61)}}}
    audio = (8000 * np.sin(np.arange(22_000) / 10)).astype(np.int16)
    with open(src / "subj_seq_to_idx.pkl", "wb") as f:
        pickle.dump(index, f, protocol=2)
    with open(src / "templates.pkl", "wb") as f:
        pickle.dump({"FaceTalk_1": template.astype(np.float64)}, f, protocol=2)
    with open(src / "raw_audio_fixed.pkl", "wb") as f:
        pickle.dump({"FaceTalk_1": {"sentence01": {"audio": audio, "sample_rate": 22_000}}}, f, protocol=2)

    (sequence,) = find_vocaset_sequences(src)
    np.testing.assert_allclose(sequence.offsets(), offsets, atol=1e-6)
    (path,) = import_dataset("vocaset", src, out, fps=30.0, basis_components=3)
    clip = load_basis_motion_clip(path)
    assert clip.weights.shape == (31, 3) and len(clip.audio) == 16_000
    report = json.loads((out / "import_report.json").read_text())
    assert report["basis"]["components"] == 3


class _Sneaky:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_pickles_with_anything_but_arrays_are_refused_without_running_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"template": _Sneaky()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        load_numpy_pickle(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps({"a": np.arange(3.0), "b": [1, "x", {2}]}, protocol=2))
    loaded = load_numpy_pickle(tmp_path / "ok.pkl")
    np.testing.assert_array_equal(loaded["a"], np.arange(3.0))


# --- whole-folder import ------------------------------------------------------------------------------------


def test_import_beat_folder_writes_loadable_clips_and_a_report(tmp_path):
    src, out = tmp_path / "beat", tmp_path / "out"
    write_beat_clip(src / "2", "2_scott_0_1_1", seed=1)
    write_beat_clip(src / "4", "4_lawrence_0_3_3", seed=2)
    written = import_dataset("beat", src, out, fps=30.0)
    assert [p.relative_to(out).as_posix() for p in written] == ["2/2_scott_0_1_1.npz", "4/4_lawrence_0_3_3.npz"]
    clip = load_clip(written[1])
    assert clip.weights.shape == (31, 52) and clip.speaker == "lawrence" and len(clip.audio) == 16_000
    report = json.loads((out / "import_report.json").read_text())
    assert report["clips"] == 2 and report["channels_missing_somewhere"] == ["tongueOut"]


def test_import_3detf_takes_speaker_from_folder_and_finds_audio_in_a_sibling_folder(tmp_path):
    src, out = tmp_path / "etf", tmp_path / "out"
    (src / "blendshape" / "obama").mkdir(parents=True)
    (src / "wav").mkdir()
    np.save(src / "blendshape" / "obama" / "WDA_clip_000.npy", smooth_curves(30))
    write_sine_wav(src / "wav" / "WDA_clip_000.wav")
    (written,) = import_dataset("3detf", src, out, fps=30.0)
    assert load_clip(written).speaker == "obama"


def test_import_refuses_clips_without_audio_before_writing_anything(tmp_path):
    src, out = tmp_path / "beat", tmp_path / "out"
    write_beat_clip(src, "1_wayne_0_1_1")
    (src / "1_wayne_0_1_1.wav").unlink()
    with pytest.raises(DatasetError, match="(?s)no audio.*1_wayne_0_1_1.json"):
        import_dataset("beat", src, out)
    assert not out.exists()


def test_import_refuses_silent_audio_and_unknown_formats(tmp_path):
    src = tmp_path / "beat"
    write_beat_clip(src, "1_wayne_0_1_1")
    sf.write(src / "1_wayne_0_1_1.wav", np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(DatasetError, match="silent"):
        import_dataset("beat", src, tmp_path / "out")
    with pytest.raises(DatasetError, match="Unknown dataset format"):
        import_dataset("fbx", src, tmp_path / "out")

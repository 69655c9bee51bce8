"""Named styles: built from per-clip embeddings, saved tied to one model, merged with user styles."""

from __future__ import annotations

import numpy as np
import pytest

from core.style_library import StyleLibrary, build_style_library
from core.weights_io import WeightsError


def library(seed: int = 0, model_sha256: str = "a" * 64) -> StyleLibrary:
    rng = np.random.default_rng(seed)
    clips = [f"c{i}" for i in range(6)]
    return build_style_library(
        {c: rng.standard_normal(8) for c in clips},
        {c: rng.standard_normal(8) for c in clips},
        {c: "spk" + str(i % 3) for i, c in enumerate(clips)},
        {c: ("neutral", "happy")[i % 2] for i, c in enumerate(clips)},
        model_sha256=model_sha256,
    )


def test_build_averages_unit_embeddings_per_label_and_adds_the_defaults():
    identity = {"a": np.array([2.0, 0, 0]), "b": np.array([0, 3.0, 0]), "c": np.array([0, 0, 1.0])}
    emotion = {"a": np.array([1.0, 0, 0]), "b": np.array([1.0, 0, 0]), "c": np.array([0, 1.0, 0])}
    styles = build_style_library(
        identity, emotion, {"a": "x", "b": "x", "c": "y"}, {"a": "neutral", "b": "neutral", "c": "sad"}
    )
    np.testing.assert_allclose(styles.identities["x"], [2**-0.5, 2**-0.5, 0], atol=1e-6)
    np.testing.assert_allclose(styles.identities["y"], [0, 0, 1], atol=1e-6)
    expected_default = np.array([2**-0.5, 2**-0.5, 1]) / np.linalg.norm([2**-0.5, 2**-0.5, 1])
    np.testing.assert_allclose(styles.identities["default"], expected_default, atol=1e-6)
    np.testing.assert_allclose(styles.emotions["neutral"], [1, 0, 0], atol=1e-6)
    assert styles.is_complete() and styles.embed_dim == 3


def test_save_load_round_trip_and_model_check(tmp_path):
    styles = library()
    sha = styles.save(tmp_path / "styles.safetensors")
    loaded = StyleLibrary.load(tmp_path / "styles.safetensors", sha, model_sha256="a" * 64)
    assert loaded.identities.keys() == styles.identities.keys() and loaded.model_sha256 == "a" * 64
    np.testing.assert_array_equal(loaded.emotions["happy"], styles.emotions["happy"])
    with pytest.raises(WeightsError, match="belongs to another model"):
        StyleLibrary.load(tmp_path / "styles.safetensors", model_sha256="b" * 64)


def test_user_styles_merge_on_top_and_must_fit_the_model():
    shipped = library()
    user = StyleLibrary(model_sha256="a" * 64).add("me", np.ones(8), -np.ones(8))
    merged = shipped.merged(user)
    assert "me" in merged.identities and "me" in merged.emotions and "default" in merged.identities
    np.testing.assert_allclose(np.linalg.norm(merged.identities["me"]), 1, atol=1e-6)
    with pytest.raises(WeightsError, match="another model"):
        shipped.merged(StyleLibrary(model_sha256="c" * 64).add("x", np.ones(8)))


def test_unknown_names_list_the_choices_and_bad_names_are_refused():
    styles = library()
    with pytest.raises(ValueError, match="default, spk0, spk1, spk2"):
        styles.identity("nobody")
    with pytest.raises(ValueError, match="no '/'"):
        styles.add("a/b", np.ones(8))
    with pytest.raises(ValueError, match="different sizes"):
        StyleLibrary({"a": np.ones(3), "b": np.ones(4)})

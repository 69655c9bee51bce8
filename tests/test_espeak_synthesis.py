"""espeak-ng speaks a line the same way whatever it spoke before, so a regenerated corpus hashes the same."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.tts_engine import EngineProsody

pytestmark = pytest.mark.tts


def test_the_same_line_gives_the_same_audio_after_other_lines():
    from core.data.tts_espeak import synthesize_espeak

    line = "the quick brown fox jumps"
    takes = []
    for other in ("hello there my friend", "a much longer sentence spoken more slowly than the first one"):
        takes.append(synthesize_espeak(line, "en+f4", EngineProsody()))
        synthesize_espeak(other, "en-us+m3", EngineProsody(duration_stretch=1.3, expressiveness=1.5))
    first, second = takes
    assert first.audio.size > 0.5 * first.sample_rate
    np.testing.assert_array_equal(first.audio, second.audio)
    assert first.phones == second.phones and np.array_equal(first.ends, second.ends)
    assert first.phones[:3] == ["SIL", "DH", "AH"]
    # and the engine still follows its prosody controls: a slower line is longer
    slow = synthesize_espeak(line, "en+f4", EngineProsody(duration_stretch=1.5))
    assert slow.audio.size > 1.2 * first.audio.size

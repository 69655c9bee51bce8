"""The emotion labels of the corpus and the style library. The audio side (prosody) lives in
core.data.speech_synthesis, the face side in core.data.face_targets; both key on these names."""

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")

"""Random training batches from TrainingClips: motion crops, their audio features, a reference clip and labels.
A clip with degraded feature views (TrainingClip.audio_views) is heard through one of them with 1 - clean_view_prob.

Each batch is `groups` speakers x `per_group` clips of that speaker (so the identity InfoNCE has positives), each
clip cropped to `crop_frames` (shorter clips are padded and masked). The reference clip of an item is ANOTHER clip
of the same speaker and emotion (cropped to `ref_frames`), so the personalizer learns style, not the clip's words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from core.training.corpus_features import TrainingClip


@dataclass
class BatchSpec:
    groups: int = 8  # speakers per batch
    per_group: int = 4  # clips per speaker
    crop_frames: int = 120  # 4 s at 30 fps
    ref_frames: int = 90


class BatchSampler:
    def __init__(
        self,
        clips: list[TrainingClip],
        speaker_labels: dict[str, int],
        emotion_labels: dict[str, int],
        spec: BatchSpec,
        seed: int,
        clean_view_prob: float = 1.0,
    ) -> None:
        if not clips:
            raise ValueError("no training clips")
        if not 0.0 <= clean_view_prob <= 1.0:
            raise ValueError(f"clean_view_prob must lie in [0, 1], got {clean_view_prob}")
        self.clips, self.spec, self.clean_view_prob = clips, spec, clean_view_prob
        self.speaker_labels, self.emotion_labels = speaker_labels, emotion_labels
        self.rng = np.random.default_rng(seed)
        self.by_speaker: dict[str, list[int]] = defaultdict(list)
        self.by_style: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, clip in enumerate(clips):
            self.by_speaker[clip.speaker].append(i)
            self.by_style[(clip.speaker, clip.emotion)].append(i)
        self.speakers = sorted(self.by_speaker)
        self.with_prosody = all(clip.prosody is not None for clip in clips)  # then batches carry "ref_prosody"

    def _crop(self, clip: TrainingClip, frames: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        start = int(self.rng.integers(0, max(clip.frames - frames, 0) + 1))
        end = min(start + frames, clip.frames)
        audio = clip.audio
        # Only clips with degraded views draw here, so a run without augmentation keeps its random stream
        if clip.audio_views and self.rng.random() >= self.clean_view_prob:
            audio = clip.audio_views[int(self.rng.integers(len(clip.audio_views)))]
        return clip.motion[start:end], audio[start:end], end - start, start

    def sample(self) -> dict[str, torch.Tensor]:
        spec = self.spec
        groups = min(spec.groups, len(self.speakers))
        speakers = self.rng.choice(len(self.speakers), size=groups, replace=False)
        items = [
            int(i)
            for s in speakers
            for i in self.rng.choice(self.by_speaker[self.speakers[s]], size=spec.per_group, replace=True)
        ]
        b, dim = len(items), self.clips[0].audio.shape[1]
        batch = {
            "motion": torch.zeros(b, spec.crop_frames, self.clips[0].motion.shape[1]),  # (batch, frames, 52)
            "audio": torch.zeros(b, spec.crop_frames, dim),  # (batch, frames, audio_dim)
            "frame_mask": torch.zeros(b, spec.crop_frames, dtype=torch.bool),
            "ref_motion": torch.zeros(b, spec.ref_frames, self.clips[0].motion.shape[1]),
            "ref_audio": torch.zeros(b, spec.ref_frames, dim),
            "ref_mask": torch.zeros(b, spec.ref_frames, dtype=torch.bool),
            **(
                {"ref_prosody": torch.zeros(b, spec.ref_frames, self.clips[0].prosody.shape[1])}
                if self.with_prosody
                else {}
            ),
            "speaker": torch.zeros(b, dtype=torch.long),
            "emotion": torch.zeros(b, dtype=torch.long),
        }
        for row, index in enumerate(items):
            clip = self.clips[index]
            motion, audio, n, _ = self._crop(clip, spec.crop_frames)
            batch["motion"][row, :n], batch["audio"][row, :n] = torch.from_numpy(motion), torch.from_numpy(audio)
            batch["frame_mask"][row, :n] = True
            same_style = [j for j in self.by_style[(clip.speaker, clip.emotion)] if j != index] or [index]
            ref = self.clips[int(self.rng.choice(same_style))]
            motion, audio, n, start = self._crop(ref, spec.ref_frames)
            batch["ref_motion"][row, :n], batch["ref_audio"][row, :n] = (
                torch.from_numpy(motion),
                torch.from_numpy(audio),
            )
            batch["ref_mask"][row, :n] = True
            if self.with_prosody:
                batch["ref_prosody"][row, :n] = torch.from_numpy(ref.prosody[start : start + n])
            batch["speaker"][row] = self.speaker_labels.get(clip.speaker, -1)
            batch["emotion"][row] = self.emotion_labels.get(clip.emotion, -1)
        return batch


class MixedBatchSampler:
    """One batch from several samplers side by side (the corpus and real speech, say): each part keeps its own
    speakers, crops and references; the batch is their concatenation along the batch dimension."""

    def __init__(self, samplers: list[BatchSampler]) -> None:
        if not samplers:
            raise ValueError("MixedBatchSampler needs at least one sampler")
        self.samplers = samplers

    def sample(self) -> dict[str, torch.Tensor]:
        parts = [sampler.sample() for sampler in self.samplers]
        keys = set(parts[0])
        if any(set(part) != keys for part in parts):
            raise ValueError("the mixed samplers give different batch keys (one has prosody, another not?)")
        return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}

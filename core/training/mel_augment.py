"""Speaker and recording variation for the student encoder's log-mel crops (phases A and A2 of distillation).

The corpus has a dozen voices; Whisper was trained on thousands. Trained on a dozen, the small encoder learns those
voices' spectra: on held-out sentences of training voices the student matched the teacher (LVE 0.185 vs 0.195), on
held-out voices it did not (0.231 vs 0.187). Each crop is changed in ways speakers and recordings differ but speech
does not, while its target stays what the clean audio gives (Whisper's features, the teacher's x0):
- vocal tract length: the spectrum is stretched along frequency by a factor in [1 / warp, warp] (VTLP),
- level: a gain in [-gain_db, gain_db] (the log-mel is absolute: a quieter recording is a shifted one, floored at
  digital silence, which stays silence),
- one band of up to `freq_mask` mel bins set to the crop's mean (SpecAugment's frequency mask).
Measured with it (README, "Measured"): no lower LVE at this budget, so `configs/distill.json` leaves it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.models.log_mel import MEL_BINS, SILENCE_LOG_MEL, mel_centre_frequencies

# The log-mel is (log10 power + 4) / 4, so g dB of gain adds g / 10 / 4.
_PER_DB = 1.0 / 40.0


@dataclass
class MelAugment:
    warp: float = 1.0  # largest stretch factor; 1.0 = none
    gain_db: float = 0.0
    freq_mask: int = 0  # widest masked band in mel bins; 0 = none

    def __post_init__(self) -> None:
        if self.warp < 1.0 or self.gain_db < 0 or not 0 <= self.freq_mask < MEL_BINS:
            raise ValueError(f"mel augment needs warp >= 1, gain_db >= 0, 0 <= freq_mask < {MEL_BINS}: {self}")

    @property
    def enabled(self) -> bool:
        return self.warp > 1.0 or self.gain_db > 0 or self.freq_mask > 0

    def __call__(self, mel: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(batch, mel_bins, frames) log-mel -> a varied copy, each crop with its own draw."""
        if not self.enabled:
            return mel
        b, bins, _ = mel.shape
        out = mel
        if self.warp > 1.0:
            factors = np.exp(rng.uniform(-np.log(self.warp), np.log(self.warp), b))
            out = warp_frequencies(out, factors)
        if self.gain_db > 0:
            gain = torch.from_numpy(rng.uniform(-self.gain_db, self.gain_db, b) * _PER_DB).to(out)[:, None, None]
            out = torch.where(out > SILENCE_LOG_MEL, (out + gain).clamp_min(SILENCE_LOG_MEL), out)
        if self.freq_mask > 0:
            out = out.clone()
            widths = rng.integers(0, self.freq_mask + 1, b)
            for i, width in enumerate(widths):
                start = int(rng.integers(0, bins - width + 1))
                out[i, start : start + width] = out[i].mean()
        return out


def warp_frequencies(mel: torch.Tensor, factors: np.ndarray) -> torch.Tensor:
    """Stretch each crop's spectrum along frequency: bin i of crop k takes the value at f_i / factors[k].

    factor > 1 moves formants up (a shorter vocal tract); values are interpolated linearly between bins, and
    frequencies below the first bin's or above the last's take the edge bin.
    """
    centres = mel_centre_frequencies(mel.shape[1])
    positions = np.stack(
        [np.interp(centres / f, centres, np.arange(len(centres), dtype=np.float64)) for f in factors]
    )  # (batch, bins): where in the original each output bin reads
    low = np.clip(np.floor(positions).astype(np.int64), 0, len(centres) - 2)
    frac = torch.from_numpy((positions - low).astype(np.float32)).to(mel)[:, :, None]
    low_t = torch.from_numpy(low).to(mel.device)[:, :, None].expand(-1, -1, mel.shape[2])
    below = torch.gather(mel, 1, low_t)
    above = torch.gather(mel, 1, low_t + 1)
    return below * (1 - frac) + above * frac

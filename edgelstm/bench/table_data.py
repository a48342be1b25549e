"""The data of the issue-12 table models (edgelstm/models/table/), two public problems of the UEA archive:

- ``basicmotions`` (sensor): 6-channel IMU, 100 steps, 4 classes, 40 train / 40 test series; standardised as
  the demo models are (edgelstm.demo.normalised_basicmotions: train mean/std, clipped at 3 sigma); for the
  masked model a zero-padded variable-length copy: each series cut to a length drawn from 40..100 (seed fixed
  per split) and post-padded with zeros.
- ``vowels`` (speech): JapaneseVowels, 12 LPC cepstrum coefficients per frame, 7..29 frames, 9 speakers,
  270 train / 370 test series; standardised with the train frames' frozen stats (data/standardisation.json),
  clipped at 3 sigma and pre-padded with zeros to 29 frames (as keras pad_sequences does by default: a
  recurrent layer without Masking ends on the last real frame): variable length by nature, so every model sees the padded series.

No TensorFlow import."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Dataset, japanese_vowels, standardisation
from ..demo import CLIP_SIGMA, normalised_basicmotions

#: The shortest and longest kept prefix of a padded series (inclusive), and the seeds of the two splits.
PAD_MIN_LEN, PAD_MAX_LEN = 40, 100
PAD_SEEDS = {"train": 12, "test": 13}
MASK_VALUE = 0.0


#: The table's data sets: name -> (what it is, one line; the file-name suffix of its models).
DATASETS = {"basicmotions": "BasicMotions (UEA, sensor): 6-axis IMU, 100 steps, 4 activities, 40 train / 40 test series",
            "vowels": "JapaneseVowels (UEA, speech): 12 LPC cepstra, 7..29 frames, 9 speakers, 270 train / 370 test "
                      "series"}
DEFAULT_DATASET = "basicmotions"


@dataclass(frozen=True)
class Splits:
    train: Dataset
    test: Dataset
    padded: bool


def pad_variable_length(ds: Dataset, seed: int) -> tuple[Dataset, np.ndarray]:
    """Cut each series of ds to a random length in PAD_MIN_LEN..PAD_MAX_LEN and post-pad it with MASK_VALUE.
    Returns the padded dataset and the kept lengths."""
    rng = np.random.default_rng(seed)
    n, t, _ = ds.x.shape
    if t < PAD_MAX_LEN:
        raise ValueError(f"series of {t} steps are shorter than PAD_MAX_LEN={PAD_MAX_LEN}; lower PAD_MAX_LEN")
    lengths = rng.integers(PAD_MIN_LEN, PAD_MAX_LEN + 1, size=n)
    x = ds.x.copy()
    for i, length in enumerate(lengths):
        x[i, length:] = MASK_VALUE
    return Dataset(x, ds.y, f"{ds.source}, cut to {PAD_MIN_LEN}..{PAD_MAX_LEN} steps, zero post-padded"), lengths


def vowels_splits() -> tuple[Dataset, Dataset]:
    """JapaneseVowels train/test: standardised per coefficient on the real train frames, clipped at CLIP_SIGMA,
    pre-padded with MASK_VALUE to the longest series of either split (29 frames)."""
    xtr, ytr, ltr, xte, yte, lte = japanese_vowels()
    mean, std = standardisation("JapaneseVowels")
    t = max(xtr.shape[1], xte.shape[1])

    def prep(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = np.full((len(x), t, x.shape[2]), MASK_VALUE, dtype=np.float32)
        for i, n in enumerate(lengths):
            out[i, t - n:] = np.clip((x[i, :n] - mean) / std, -CLIP_SIGMA, CLIP_SIGMA)
        return out

    how = f"standardised, clipped at {CLIP_SIGMA:g} sigma, zero pre-padded to {t} frames"
    return (Dataset(prep(xtr, ltr), ytr, f"JapaneseVowels train ({how})"),
            Dataset(prep(xte, lte), yte, f"JapaneseVowels test ({how})"))


def table_splits(padded: bool = False, dataset: str = DEFAULT_DATASET) -> Splits:
    """Train and test splits of `dataset` (DATASETS); ``padded`` for the masked model (BasicMotions: cut to
    random lengths and zero-padded; JapaneseVowels is padded for every model)."""
    if dataset == "vowels":
        train, test = vowels_splits()
        return Splits(train, test, padded)
    if dataset != "basicmotions":
        raise KeyError(f"unknown table data set {dataset!r}; choose from {', '.join(DATASETS)}")
    train, test, _ = normalised_basicmotions()
    if padded:
        train = pad_variable_length(train, PAD_SEEDS["train"])[0]
        test = pad_variable_length(test, PAD_SEEDS["test"])[0]
    return Splits(train, test, padded)

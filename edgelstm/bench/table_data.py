"""The data of the issue-12 table models (edgelstm/models/table/): BasicMotions standardised as the demo
models are (edgelstm.demo.normalised_basicmotions: train mean/std, clipped at 3 sigma), and for the masked
model a zero-padded variable-length copy: each series cut to a length drawn from 40..100 (seed fixed per
split) and post-padded with zeros. No TensorFlow import."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Dataset
from ..demo import normalised_basicmotions

#: The shortest and longest kept prefix of a padded series (inclusive), and the seeds of the two splits.
PAD_MIN_LEN, PAD_MAX_LEN = 40, 100
PAD_SEEDS = {"train": 12, "test": 13}
MASK_VALUE = 0.0


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


def table_splits(padded: bool = False) -> Splits:
    """Train and test splits; ``padded`` for the masked model."""
    train, test, _ = normalised_basicmotions()
    if padded:
        train = pad_variable_length(train, PAD_SEEDS["train"])[0]
        test = pad_variable_length(test, PAD_SEEDS["test"])[0]
    return Splits(train, test, padded)

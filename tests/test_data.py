"""The bundled data sets normalise to the same bits on every CPU: the standardisation stats are frozen
(edgelstm/data/standardisation.json), not reduced afresh, so every calibration set, validation set and accuracy
in the suite is independent of the machine's SIMD width (CI once failed on 3-ulp different means)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgelstm.bench.table_data import vowels_splits
from edgelstm.data import basicmotions, japanese_vowels, measure_standardisation, standardisation
from edgelstm.demo import CLIP_SIGMA, normalised_basicmotions, shipped_model_path

#: A frozen stat may differ from a fresh float32 reduction by float32 rounding only: this fraction of the
#: channel's std (the normalised inputs then move by at most 1e-5).
STATS_TOLERANCE = 1e-5

#: sha256 of the normalised train and test inputs (float32 bytes, C order), recorded when the stats were frozen.
NORMALISED_SHA256 = {
    "BasicMotions": "2ea03fe2c193e52fbd5af8eaf9aefc8af7e4e94b1bee31b4a20530d0c9b54df4",
    "JapaneseVowels": "caecc17ceb8f02d69f47c490c981856c4f862fc6acd7355ecb5369b863643096",
}


def _train_frames(problem: str) -> np.ndarray:
    if problem == "BasicMotions":
        return basicmotions()[0]
    xtr, _, ltr, *_ = japanese_vowels()
    return np.concatenate([x[:n] for x, n in zip(xtr, ltr)])  # the real frames, without the zero padding


def _normalised(problem: str) -> tuple[np.ndarray, np.ndarray]:
    if problem == "BasicMotions":
        train, test, _ = normalised_basicmotions()
    else:
        train, test = vowels_splits()
    return train.x, test.x


@pytest.mark.parametrize("problem", sorted(NORMALISED_SHA256))
def test_frozen_stats_are_the_train_splits_stats(problem):
    mean, std = standardisation(problem)
    fresh_mean, fresh_std = measure_standardisation(_train_frames(problem))
    assert mean.dtype == std.dtype == np.float32 and mean.shape == fresh_mean.shape
    assert np.all(np.abs(mean - fresh_mean) <= STATS_TOLERANCE * std), (mean, fresh_mean)
    assert np.all(np.abs(std - fresh_std) <= STATS_TOLERANCE * std), (std, fresh_std)


@pytest.mark.parametrize("problem", sorted(NORMALISED_SHA256))
def test_normalised_inputs_are_the_same_bits_on_every_cpu(problem):
    train, test = _normalised(problem)
    assert train.dtype == test.dtype == np.float32 and train.flags.c_contiguous and test.flags.c_contiguous
    assert np.abs(train).max() == np.abs(test).max() == np.float32(CLIP_SIGMA)  # clipped, and something hits it
    assert hashlib.sha256(train.tobytes() + test.tobytes()).hexdigest() == NORMALISED_SHA256[problem]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_demo_models_scaling_is_the_frozen_one(kind):
    """The demo models' .norm.json (what firmware applies) was written on the AVX-512 machine that trained
    them: the frozen stats within float32 rounding of it."""
    norm = json.loads(Path(shipped_model_path(kind)).with_suffix(".norm.json").read_text())
    mean, std = standardisation("BasicMotions")
    assert norm["clip"] == CLIP_SIGMA
    assert np.allclose(norm["mean"], mean, rtol=0, atol=STATS_TOLERANCE * float(std.min()))
    assert np.allclose(norm["std"], std, rtol=STATS_TOLERANCE, atol=0)
    assert norm["mean"] != mean.tolist()  # the reason the stats are frozen: a float32 reduction differs by CPU

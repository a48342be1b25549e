"""Calibration / validation data, and the bundled BasicMotions demo set."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import DataError
from .ir import ModelDesc

BASICMOTIONS_CLASSES = ("Standing", "Running", "Walking", "Badminton")
#: Added to each channel's std before dividing (a constant channel stays finite).
STD_EPSILON = 1e-6


@dataclass(frozen=True, eq=False)
class Dataset:
    """x: float32 (N, T, F); y: int labels (N,) or None."""

    x: np.ndarray
    y: np.ndarray | None = None
    source: str = ""

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, n: int) -> "Dataset":
        return Dataset(self.x[:n], None if self.y is None else self.y[:n], self.source)


def load_dataset(path: str | Path, desc: ModelDesc | None = None, check_spread: bool = True) -> Dataset:
    """Read ``.npy`` (N, T, F) or ``.npz`` with ``x`` (and optional ``y``) and check it (check_dataset)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {p}; pass a .npy array of shape (N, T, F) or a .npz with 'x'")
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z.files:
                    raise DataError(f"{p.name} has arrays {sorted(z.files)} but no 'x'; save it with np.savez(path, x=..., y=...)")
                x, y = z["x"], (z["y"] if "y" in z.files else None)
        else:
            x, y = np.load(p, allow_pickle=False), None
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read {p.name} as numpy data ({exc}); save it with np.save / np.savez") from None
    return check_dataset(Dataset(np.asarray(x), None if y is None else np.asarray(y), str(p)), desc, check_spread)


#: Narrowest input range (max - min, zero included, as TFLite calibrates it) that int8 can represent:
#: below it the input scale is so small that folded biases overflow int32.
MIN_INPUT_RANGE = 1e-6


def check_dataset(ds: Dataset, desc: ModelDesc | None, check_spread: bool = True) -> Dataset:
    """Float data of shape (N, T, F) that fits ``desc`` (when given), finite and, with ``check_spread``,
    varying enough to calibrate on. Returns it as float32 (labels as int64)."""
    x = ds.x
    name = Path(ds.source).name or "data"
    if x.dtype.kind != "f":
        raise DataError(f"{name} has dtype {x.dtype}, not floating point; pass float32 data of shape (N, T, F) "
                        "(convert it with x.astype('float32'), scaled as the model was trained)")
    if x.ndim != 3:
        hint = f" (N, {desc.seq_len}, {desc.input_size})" if desc else " (N, T, F)"
        raise DataError(f"{name} has shape {x.shape}; it must be 3-D{hint}")
    if desc is not None and (x.shape[1], x.shape[2]) != (desc.seq_len, desc.input_size):
        raise DataError(f"{name} has shape {x.shape} but model '{desc.name}' expects (N, {desc.seq_len}, "
                        f"{desc.input_size}); pass data with that shape or --seq-len {x.shape[1]} if the model allows it")
    if x.shape[0] == 0:
        raise DataError(f"{name} holds no samples; pass at least one (N >= 1)")
    if not np.isfinite(x).all():
        raise DataError(f"{name} contains NaN or Inf values; clean the data before calibrating")
    if check_spread:
        _check_spread(x, name)
    y = ds.y
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{name}: labels 'y' have shape {y.shape}; expected ({len(x)},) integer class ids")
        y = y.astype(np.int64)
    return Dataset(x.astype(np.float32), y, ds.source)


def _check_spread(x: np.ndarray, name: str) -> None:
    """Calibration derives the int8 input scale from the data's range: constant data gives none."""
    lo, hi = float(x.min()), float(x.max())
    if not np.ptp(x.reshape(-1, x.shape[-1]), axis=0).any():
        what = f"every value is {lo:g}" if lo == hi else f"values {lo:g} .. {hi:g}"
        raise DataError(f"{name} has no spread: every feature is constant over all samples and timesteps ({what}), "
                        "so it gives no int8 input range and checks nothing; pass real recorded inputs that vary")
    span = max(hi, 0.0) - min(lo, 0.0)
    if span < MIN_INPUT_RANGE:
        raise DataError(f"{name} spans only {lo:.3g} .. {hi:.3g}: an int8 input scale of {span / 255:.3g} cannot hold "
                        "the model's biases; pass inputs at the scale the model was trained on (e.g. standardised "
                        "per feature)")


def _parse_ts(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a UEA/UCR ``.ts`` file (multivariate, class labels). Series of unequal length are post-padded
    with zeros to the longest. Returns x (N, T, channels) float32, y (N,) and each series' length (N,)."""
    labels: tuple[str, ...] = ()
    rows: list[np.ndarray] = []
    ys: list[int] = []
    in_data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                labels = tuple(line.split()[2:])
            elif low.startswith("@data"):
                in_data = True
            continue
        *dims, label = line.split(":")
        rows.append(np.array([[float(v) for v in d.split(",")] for d in dims], dtype=np.float32).T)  # (T_i, channels)
        ys.append(labels.index(label))
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    x = np.zeros((len(rows), int(lengths.max()), rows[0].shape[1]), dtype=np.float32)
    for i, r in enumerate(rows):
        x[i, :len(r)] = r
    return x, np.array(ys, dtype=np.int64), lengths


def _bundled_ts(problem: str) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, lengths_train, x_test, y_test, lengths_test) of a bundled UEA problem (edgelstm/data/)."""
    pkg = resources.files("edgelstm") / "data"
    return (*_parse_ts((pkg / f"{problem}_TRAIN.ts").read_text()), *_parse_ts((pkg / f"{problem}_TEST.ts").read_text()))


def measure_standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std + STD_EPSILON of float32 x (..., channels) over all other axes, in float32 as
    numpy reduces. numpy's float32 reductions round differently on CPUs with other SIMD paths (the AVX-512
    machine that trained the demo models got means 3 float32 ulps away from an AVX2 one), so the bundled
    problems use the frozen copy (standardisation()), measured once with this function."""
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.std(axis=axes) + np.float32(STD_EPSILON)


@lru_cache(maxsize=None)
def standardisation(problem: str) -> tuple[np.ndarray, np.ndarray]:
    """The frozen per-channel (mean, std + STD_EPSILON) of a bundled problem's train split (data/
    standardisation.json): the numbers the shipped models were trained with, identical on every CPU."""
    import json

    stats = json.loads((resources.files("edgelstm") / "data" / "standardisation.json").read_text())[problem]
    return np.array(stats["mean"], dtype=np.float32), np.array(stats["std"], dtype=np.float32)


@lru_cache(maxsize=1)
def basicmotions() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BasicMotions (UEA archive): 6-channel IMU, 100 steps, 4 classes.

    Returns (x_train, y_train, x_test, y_test), x as float32 (N, 100, 6).
    """
    xtr, ytr, _, xte, yte, _ = _bundled_ts("BasicMotions")
    return xtr, ytr, xte, yte


@lru_cache(maxsize=1)
def japanese_vowels() -> tuple[np.ndarray, ...]:
    """JapaneseVowels (UEA archive): 12 LPC cepstrum coefficients per frame of an uttered vowel, 7..29 frames,
    9 speakers (classes); 270 train and 370 test series.

    Returns (x_train, y_train, lengths_train, x_test, y_test, lengths_test), x as float32 (N, 29, 12),
    each series post-padded with zeros after its length.
    """
    return _bundled_ts("JapaneseVowels")

"""The demo: small LSTM and GRU classifiers trained on BasicMotions, and ``edgelstm demo``.

Inputs are standardised per channel with the training set's mean and std and
clipped to +-3 sigma (the stats are frozen in edgelstm/data/standardisation.json, so every CPU
normalises to the same bits, and saved beside the model: firmware must apply the same scaling). Clipping outliers keeps the recurrent state well conditioned,
which is what int8 needs: measured on the demo GRU, int8 max error 0.035 with
clipping against 0.25 without.

The trained models ship in the package (edgelstm/models/, ~20 KB each): training gives other
weights on another CPU (oneDNN / AVX-512 numerics), so tests, `edgelstm demo` and the README
numbers use the shipped weights on every machine. ``edgelstm demo --retrain`` trains afresh;
those models are cached in $EDGELSTM_CACHE (default ~/.cache/edgelstm) keyed by their settings.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset, basicmotions, standardisation

DEMO_UNITS = {"lstm": 16, "gru": 16}
EPOCHS = 60
LEARNING_RATE = {"lstm": 0.01, "gru": 0.005}
CLIP_SIGMA = 3.0


def cache_dir() -> Path:
    return Path(os.environ.get("EDGELSTM_CACHE", Path.home() / ".cache" / "edgelstm"))


def normalised_basicmotions() -> tuple[Dataset, Dataset, dict]:
    xtr, ytr, xte, yte = basicmotions()
    mean, std = standardisation("BasicMotions")
    norm = {"mean": mean.tolist(), "std": std.tolist(), "clip": CLIP_SIGMA}

    def prep(x: np.ndarray) -> np.ndarray:
        return np.clip((x - mean) / std, -CLIP_SIGMA, CLIP_SIGMA).astype(np.float32)

    return (Dataset(prep(xtr), ytr, "BasicMotions train (standardised, clipped at 3 sigma)"),
            Dataset(prep(xte), yte, "BasicMotions test (standardised, clipped at 3 sigma)"), norm)


def train_demo(kind: str, path: Path) -> None:
    """Train the demo classifier with Keras 3 and save it to path (.keras)."""
    import keras

    train, test, norm = normalised_basicmotions()
    keras.utils.set_random_seed(0)
    rnn = keras.layers.LSTM if kind == "lstm" else keras.layers.GRU
    model = keras.Sequential([keras.Input((100, 6), name="imu"), rnn(DEMO_UNITS[kind], name=kind),
                              keras.layers.Dense(4, activation="softmax", name="activity")], name=f"demo_{kind}")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE[kind]), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train.x, train.y, epochs=EPOCHS, batch_size=8, verbose=0, shuffle=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.keras")
    model.save(tmp)
    tmp.rename(path)
    path.with_suffix(".norm.json").write_text(json.dumps(norm))


def shipped_model_path(kind: str) -> Path:
    """The trained demo model that ships with edgelstm (trained once with train_demo, seed 0)."""
    from importlib import resources

    return Path(str(resources.files("edgelstm") / "models" / f"demo_{kind}.keras"))


def demo_model_path(kind: str, retrain: bool = False) -> Path:
    """The shipped model, or with ``retrain`` one trained on this machine (cached; the folder name
    carries a hash of the training settings, so a change retrains)."""
    import hashlib

    if not retrain:
        return shipped_model_path(kind)
    settings = f"{kind}-{DEMO_UNITS[kind]}-{EPOCHS}-{LEARNING_RATE[kind]}-{CLIP_SIGMA}"
    path = cache_dir() / hashlib.sha256(settings.encode()).hexdigest()[:12] / f"demo_{kind}.keras"
    if not path.exists():
        train_demo(kind, path)
    return path


def demo_model(kind: str, retrain: bool = False) -> Any:
    """The trained demo model as a LoadedModel, with calibration (train) and validation (test) data."""
    from .load import load_model

    model = load_model(demo_model_path(kind, retrain))
    train, test, _ = normalised_basicmotions()
    model.calib, model.validation = train, test
    return model


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="train the demo LSTM and GRU on BasicMotions and run the pipeline",
                       description="Train small LSTM and GRU activity classifiers on the bundled BasicMotions IMU data "
                                   "and convert them to every variant, TFLite and ONNX, float32 and int8.")
    p.add_argument("-o", "--out", default="demo", help="output folder (default demo/)")
    p.add_argument("--kind", default="lstm,gru", help="lstm, gru or lstm,gru")
    p.add_argument("--retrain", action="store_true",
                   help="train the demo models afresh on this machine instead of using the shipped weights "
                        "(other CPUs train to other weights)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .convert.api import convert
    from .convert.command import report_verdicts
    from .convert.table import render
    from .errors import DataError
    from .outdir import check_writable
    from .progress import Progress

    kinds = [k.strip() for k in args.kind.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in DEMO_UNITS] or ([] if kinds else [args.kind])
    if unknown:
        raise DataError(f"--kind {args.kind}: unknown demo model {', '.join(unknown)!s}; use lstm, gru or lstm,gru")
    for kind in kinds:  # the folders are written after minutes of training and converting: check them first
        check_writable(Path(args.out) / kind)
    for kind in kinds:
        model = demo_model(kind, retrain=args.retrain)
        out = Path(args.out) / kind
        with Progress(24, f"demo {kind}") as bar:
            manifest = convert(model, out, ("tflite", "onnx"), ("sequence", "unrolled", "stateful"),
                               ("float32", "int8"), calib=model.calib, validation=model.validation, progress=bar.step)
        print(f"== demo {kind}: {model.desc.summary()['params']} parameters -> {out}/")
        print(render(manifest))
        report_verdicts(manifest.artifacts, strict=False)
        (out / "calib.npy").parent.mkdir(parents=True, exist_ok=True)
        np.save(out / "calib.npy", model.calib.x)
    return 0

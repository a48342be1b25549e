"""``python -m edgelstm.bench.table_models [--datasets basicmotions,vowels] [--only a,b] [--out DIR]``: train
the models of issue 12's table on one of the table's data sets and save them to
edgelstm/models/table/<name>.keras (BasicMotions) or edgelstm/models/table/vowels/<name>.keras (JapaneseVowels).

Fixed seeds, but training gives other weights on another CPU (oneDNN / AVX numerics), so the trained
files ship in git and tests and ``make bench`` (edgelstm.bench.accuracy) only read them; nothing runs this
script but a person retraining. Data: edgelstm.bench.table_data (the demo models' scaling; the masked
model trains and tests on zero-padded variable-length series).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .table_data import DATASETS, DEFAULT_DATASET, MASK_VALUE, table_splits

SEED = 0


@dataclass(frozen=True)
class Shape:
    """What a data set fixes of a table model: timesteps, features per step, classes."""

    seq_len: int
    features: int
    classes: int


#: Each data set's input and output shape (edgelstm.bench.table_data.DATASETS).
SHAPES = {"basicmotions": Shape(100, 6, 4), "vowels": Shape(29, 12, 9)}


@dataclass(frozen=True)
class TableModel:
    """One row of the table: how to build it, and how to train it."""

    name: str
    build: Callable[[Any, Shape], Any]  # (keras module, data set shape) -> uncompiled model
    padded: bool = False  # trained and evaluated on zero-padded variable-length series
    epochs: int = 60
    learning_rate: float = 0.005


def _head(keras: Any, x: Any, shape: Shape) -> Any:
    return keras.layers.Dense(shape.classes, activation="softmax", name="activity")(x)


def _sequential(name: str, *layers: Any) -> Callable[[Any, Shape], Any]:
    def build(keras: Any, shape: Shape) -> Any:
        inp = keras.Input((shape.seq_len, shape.features), name="imu")
        x = inp
        for make in layers:
            x = make(keras)(x)
        return keras.Model(inp, _head(keras, x, shape), name=name)
    return build


def _attention(keras: Any, shape: Shape) -> Any:
    """LSTM outputs weighted by a softmax over time of a Dense(1) score, summed, classified (no Lambda)."""
    L = keras.layers
    inp = keras.Input((shape.seq_len, shape.features), name="imu")
    h = L.LSTM(16, return_sequences=True, name="lstm")(inp)
    s = L.Dense(1, name="score")(h)
    s = L.Flatten(name="scores")(s)
    a = L.Softmax(name="weights")(s)
    a = L.Reshape((shape.seq_len, 1), name="weights_t")(a)
    c = L.Dot(axes=1, name="context")([a, h])
    c = L.Flatten(name="context_flat")(c)
    return keras.Model(inp, _head(keras, c, shape), name="attention")


MODELS: tuple[TableModel, ...] = (
    TableModel("har_cnn_lstm", _sequential(
        "har_cnn_lstm", lambda k: k.layers.Conv1D(32, 5, activation="relu", name="conv"),
        lambda k: k.layers.MaxPooling1D(2, name="pool"), lambda k: k.layers.LSTM(32, name="lstm"))),
    TableModel("crnn", _sequential(
        "crnn", lambda k: k.layers.Conv1D(16, 3, padding="same", name="conv"),
        lambda k: k.layers.BatchNormalization(name="bn"),
        lambda k: k.layers.GRU(24, return_sequences=True, name="gru1"), lambda k: k.layers.GRU(24, name="gru2"))),
    TableModel("simple_rnn", _sequential("simple_rnn", lambda k: k.layers.SimpleRNN(16, name="rnn")),
              epochs=100, learning_rate=0.002),
    TableModel("masked_lstm", _sequential(
        "masked_lstm", lambda k: k.layers.Masking(MASK_VALUE, name="mask"), lambda k: k.layers.LSTM(16, name="lstm")),
        padded=True, learning_rate=0.01),
    TableModel("gru_relu", _sequential("gru_relu", lambda k: k.layers.GRU(16, activation="relu", name="gru"))),
    TableModel("gru_hard_sigmoid", _sequential(
        "gru_hard_sigmoid", lambda k: k.layers.GRU(16, recurrent_activation="hard_sigmoid", name="gru"))),
    TableModel("lstm_backwards", _sequential(
        "lstm_backwards", lambda k: k.layers.LSTM(16, go_backwards=True, name="lstm"))),
    TableModel("attention", _attention, learning_rate=0.01),
)
NAMES = tuple(m.name for m in MODELS)


def table_dir(dataset: str = DEFAULT_DATASET) -> Path:
    """The folder the table models trained on `dataset` ship in: edgelstm/models/table/ (BasicMotions, the
    first data set) or edgelstm/models/table/<dataset>/."""
    if dataset not in DATASETS:
        raise KeyError(f"unknown table data set {dataset!r}; choose from {', '.join(DATASETS)}")
    root = Path(str(resources.files("edgelstm") / "models" / "table"))
    return root if dataset == DEFAULT_DATASET else root / dataset


def model_path(name: str, dataset: str = DEFAULT_DATASET) -> Path:
    if name not in NAMES:
        raise KeyError(f"unknown table model {name!r}; choose from {', '.join(NAMES)}")
    return table_dir(dataset) / f"{name}.keras"


def spec(name: str) -> TableModel:
    model_path(name)  # the name check
    return next(m for m in MODELS if m.name == name)


def train(m: TableModel, out: Path, dataset: str = DEFAULT_DATASET) -> dict[str, float]:
    """Train one model on `dataset` with fixed seeds, save it to out/<name>.keras; returns its float accuracies."""
    import keras

    splits = table_splits(m.padded, dataset)
    shape = SHAPES[dataset]
    keras.utils.set_random_seed(SEED)
    model = m.build(keras, shape)
    model.compile(optimizer=keras.optimizers.Adam(m.learning_rate, clipnorm=1.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(splits.train.x, splits.train.y, epochs=m.epochs, batch_size=8, verbose=0, shuffle=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{m.name}.keras"
    tmp = path.with_suffix(".tmp.keras")
    bare = m.build(keras, shape)  # uncompiled: no optimizer state in the shipped file
    bare.set_weights(model.get_weights())
    bare.save(tmp)
    tmp.rename(path)

    def acc(ds: Any) -> float:
        return float((np.asarray(model(ds.x, training=False)).argmax(axis=1) == ds.y).mean())

    return {"train_accuracy": acc(splits.train), "test_accuracy": acc(splits.test)}


def only_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of the table-model scripts: ``--only`` names some of NAMES (see chosen)."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help=f"comma list of {', '.join(NAMES)} (default: all)")
    p.add_argument("--datasets", default="", help="comma list of the table's data sets (default: all): " +
                   "; ".join(f"{k}: {v}" for k, v in DATASETS.items()))
    return p


def chosen(p: argparse.ArgumentParser, only: str) -> tuple[str, ...]:
    """The models ``--only`` names (all when empty); an unknown name is a usage error listing NAMES."""
    names = tuple(n.strip() for n in only.split(",") if n.strip()) or NAMES
    bad = [n for n in names if n not in NAMES]
    if bad:
        p.error(f"unknown table model {', '.join(bad)}; choose from {', '.join(NAMES)}")
    return names


def chosen_datasets(p: argparse.ArgumentParser, text: str) -> tuple[str, ...]:
    """The data sets ``--datasets`` names (all when empty); an unknown name is a usage error listing DATASETS."""
    names = tuple(n.strip() for n in text.split(",") if n.strip()) or tuple(DATASETS)
    bad = [n for n in names if n not in DATASETS]
    if bad:
        p.error(f"unknown table data set {', '.join(bad)}; choose from {', '.join(DATASETS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    p = only_parser("python -m edgelstm.bench.table_models", __doc__)
    p.add_argument("--out", default=None, help="folder for the .keras files (default: the data set's folder in "
                                                "edgelstm/models/table/)")
    args = p.parse_args(argv)
    datasets = chosen_datasets(p, args.datasets)
    if args.out and len(datasets) > 1:
        p.error("--out takes one data set: add --datasets NAME")
    for dataset in datasets:
        out = Path(args.out) if args.out else table_dir(dataset)
        summary_path = out / "training.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        for name in chosen(p, args.only):
            result = train(spec(name), out, dataset)
            summary[name] = {k: round(v, 4) for k, v in result.items()}
            print(f"{dataset} {name}: train {result['train_accuracy']:.3f}  test {result['test_accuracy']:.3f}",
                  flush=True)
            summary_path.write_text(json.dumps(dict(sorted(summary.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

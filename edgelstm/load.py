"""load: a Keras file (Keras 3 or tf_keras) or a spec string -> ModelDesc.

The ModelDesc is checked against the Keras model itself: the numpy forward
pass of the description must reproduce Keras' output, so any layer option we
do not model (or a non-linear topology) is caught here, not in a converter.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import reference
from .errors import ModelError
from .ir import Layer, ModelDesc
from .layers import for_keras
from .layers.folding import FOLD_CLASSES, fold
from .layers import attention, masking

SUPPORTED_LAYERS = ("LSTM", "GRU", "SimpleRNN", "Bidirectional", "Dense", "TimeDistributed(Dense)", "Conv1D",
                    "DepthwiseConv1D", "SeparableConv1D",
                    "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
                    "BatchNormalization", "LayerNormalization (axis=-1)", "Activation", "ReLU", "Dropout", "InputLayer",
                    "Masking (first, in front of LSTM/GRU/SimpleRNN)",
                    "attention pooling (Dense score -> Softmax over time -> Dot/Multiply)")
_IGNORED = {"InputLayer", "Dropout", "SpatialDropout1D", "GaussianDropout", "GaussianNoise", "ActivityRegularization"}


@dataclass(eq=False)
class LoadedModel:
    desc: ModelDesc
    keras_model: Any  # the user's model (Keras 3 or tf_keras), used as the float reference
    flavour: str  # "keras3" | "tf_keras" | "spec"
    path: str = ""
    calib: Any = None  # Dataset bundled with the model (demo models)
    validation: Any = None  # Dataset with labels (demo models)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The Keras float model's output on x (N, T, F), float32."""
        out = self.keras_model(np.asarray(x, dtype=np.float32), training=False)
        return np.asarray(out, dtype=np.float32)


def detect_flavour(path: Path) -> str:
    """'keras3' or 'tf_keras' from the file's own metadata."""
    if path.suffix == ".h5":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                version = f.attrs.get("keras_version", b"")
        except OSError as exc:
            raise ModelError(f"{path.name} is not a readable HDF5 Keras model ({exc}); re-save it with model.save()") from None
        version = version.decode() if isinstance(version, bytes) else str(version)
        return "keras3" if version.startswith("3") else "tf_keras"
    if path.suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as z:
                meta = json.loads(z.read("metadata.json"))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError):
            raise ModelError(f"{path.name} is not a valid .keras archive (corrupt or truncated); re-save it with "
                             "model.save('model.keras')") from None
        return "keras3" if str(meta.get("keras_version", "3")).startswith("3") else "tf_keras"
    raise ModelError(f"unsupported model file type '{path.suffix}' ({path.name}); pass a .keras or .h5 Keras model, "
                     "or a spec like lstm:16,dense:4")


def _load_keras_file(path: Path) -> tuple[Any, str]:
    flavour = detect_flavour(path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if flavour == "keras3":
            import keras

            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        else:
            import tf_keras

            model = tf_keras.models.load_model(path, compile=False)
    except ModelError:
        raise
    except Exception as exc:  # the loaders raise anything from ValueError to TypeError on bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {path.name} with {flavour} ({first[:200]}); check the file and that it was "
                         "saved by Keras 3 or tf-keras 2.x") from None
    return model, flavour


@dataclass(frozen=True)
class _Where:
    """ParseContext of edgelstm.layers: where a Keras layer sits in the chain."""

    index: int
    input_size: int
    is_seq: bool


def describe_keras(model: Any, name: str, source: str, flavour: str, seq_len: int | None = None) -> ModelDesc:
    """Walk a Keras model's layers into a ModelDesc (raises ModelError on anything unsupported)."""
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is None or len(shape) != 3 or len(getattr(model, "inputs", [])) != 1:
        raise ModelError(f"model '{name}' must have one input of shape (batch, timesteps, features); got {shape}")
    if len(model.outputs) != 1:
        raise ModelError(f"model '{name}' has {len(model.outputs)} outputs; edgelstm supports one output")
    t, f = shape[1], shape[2]
    if seq_len is not None:
        if t is not None and int(t) != seq_len:
            raise ModelError(f"--seq-len {seq_len} conflicts with the model's fixed sequence length {t}")
        t = seq_len
    if t is None:
        raise ModelError(f"model '{name}' has a variable sequence length; pass --seq-len T (microcontroller "
                         "models run a fixed number of timesteps)")
    if f is None:
        raise ModelError(f"model '{name}' has an unknown feature count; build it with a fixed input shape")
    layers: list[Layer] = []
    size, is_seq = int(f), True
    mask_value: float | None = None
    for index, layer in enumerate(attention.collapse(model)):
        if isinstance(layer, attention.Block):
            pooled = attention.ATTENTION.parse(_Where(index, size, is_seq), layer)
            layers.append(pooled)
            size, is_seq = pooled.output_size, False
            continue
        cls = type(layer).__name__
        if cls in _IGNORED:
            continue
        if cls == masking.KERAS_CLASS:
            if mask_value is not None:
                raise ModelError(f"layer {index} '{layer.name}' is a second Masking layer; use one Masking layer, "
                                 "first in the model")
            mask_value = masking.parse_mask_value(_Where(index, size, is_seq), layer, layers)
            continue
        if cls in FOLD_CLASSES:
            previous = layers.pop() if layers else None
            layers += fold(_Where(index, size, is_seq), layer, previous)
            continue
        kind = for_keras(cls)
        if kind is None:
            raise ModelError(f"layer {index} '{layer.name}' is {cls}, which edgelstm does not support; "
                             f"supported layers: {', '.join(SUPPORTED_LAYERS)}")
        parsed = kind.parse(_Where(index, size, is_seq), layer)
        for p in (parsed if isinstance(parsed, list) else [parsed]):  # SeparableConv1D: two IR layers
            layers.append(p)
            size, is_seq = p.output_size, getattr(p, "return_sequences", is_seq)
    if not any(l.type in ("recurrent", "bidirectional") for l in layers):
        raise ModelError(f"model '{name}' has no LSTM or GRU layer; edgelstm converts recurrent models (LSTM, GRU, SimpleRNN)")
    if mask_value is not None:
        masking.check_placement(name, layers)
    for l in layers:
        if not all(np.isfinite(a).all() for a in _arrays(l)):
            raise ModelError(f"layer '{l.name}' has NaN or Inf weights; retrain or fix the model before converting")
    return ModelDesc(name=name, seq_len=int(t), input_size=int(f), layers=tuple(layers), source=source,
                     keras_flavour=flavour, mask_value=mask_value)  # type: ignore[arg-type]


def _arrays(layer: Any) -> list[np.ndarray]:
    """Every weight array of an IR layer (nested directions included)."""
    out: list[np.ndarray] = []
    for f in dataclasses.fields(layer):
        v = getattr(layer, f.name)
        if isinstance(v, np.ndarray):
            out.append(v)
        elif dataclasses.is_dataclass(v):
            out += _arrays(v)
    return out


def _check_against_keras(loaded: LoadedModel) -> None:
    """The description must reproduce the Keras model (catches topologies we do not model)."""
    desc = loaded.desc
    x = np.random.default_rng(0).normal(size=(2, desc.seq_len, desc.input_size)).astype(np.float32)
    if desc.masked and desc.seq_len > 1:  # padded samples too: the skipping must match Keras'
        pre, post = x.copy(), x.copy()
        pre[:, : desc.seq_len // 2] = desc.mask_value
        post[:, desc.seq_len // 2 + 1:] = desc.mask_value
        x = np.concatenate([x, pre, post])
    want = loaded.predict(x)
    got = reference.forward(desc, x)
    if want.shape != got.shape or not np.allclose(want, got, atol=1e-4, rtol=1e-3):
        diff = float(np.max(np.abs(want - got))) if want.shape == got.shape else float("nan")
        raise ModelError(f"model '{desc.name}' is not a plain chain of supported layers (edgelstm's reading differs "
                         f"from Keras by {diff:.3g}, shapes {got.shape} vs {want.shape}); simplify the model to "
                         "Input -> LSTM/GRU/Bidirectional -> Dense")


SPEC_KINDS = ("lstm", "gru", "gru_v1", "rnn", "bilstm", "bigru", "dense")
SPEC_SYNTAX = ("lstm:16,dense:4@T/F (layers lstm, gru, gru_v1, rnn, bilstm, bigru or dense with 1..{units} units, "
               "'+seq' to keep the sequence; T timesteps 1..{t}, F features 1..{f}; default @100/6)")
MAX_SPEC_UNITS = 4096
MAX_SPEC_SEQ_LEN = 100_000
MAX_SPEC_FEATURES = 4096
_MODEL_SUFFIXES = (".keras", ".h5")


@dataclass(frozen=True)
class Spec:
    """A parsed spec: layers as (kind, units, keep_sequence), sequence length, features."""

    layers: tuple[tuple[str, int, bool], ...]
    seq_len: int
    features: int


def looks_like_spec(text: str) -> bool:
    """A spec has a ':' and names no file (a missing .keras/.h5 path is a missing file, not a spec)."""
    p = Path(text)
    return ":" in text and not p.exists() and p.suffix.lower() not in _MODEL_SUFFIXES


def is_spec(text: str) -> bool:
    """A valid spec (see parse_spec)."""
    if not looks_like_spec(text):
        return False
    try:
        parse_spec(text)
    except ModelError:
        return False
    return True


def _spec_error(text: str, problem: str) -> ModelError:
    syntax = SPEC_SYNTAX.format(units=MAX_SPEC_UNITS, t=MAX_SPEC_SEQ_LEN, f=MAX_SPEC_FEATURES)
    return ModelError(f"'{text}' is not a valid model spec (and no such file exists): {problem}; write a spec like "
                      f"{syntax}, or pass a .keras/.h5 file")


def _spec_int(text: str, spec: str, what: str, high: int) -> int:
    if not re.fullmatch(r"\d+", text):
        raise _spec_error(spec, f"{what} '{text}' is not a whole number")
    n = int(text)
    if not 1 <= n <= high:
        raise _spec_error(spec, f"{what} {n} is out of range 1..{high}")
    return n


def _spec_layer(tok: str, spec: str) -> tuple[str, int, bool]:
    kind, colon, rest = tok.strip().partition(":")
    if not colon:
        raise _spec_error(spec, f"layer '{tok.strip()}' has no ':units'")
    if kind not in SPEC_KINDS:
        raise _spec_error(spec, f"unknown layer '{kind}'")
    keep_seq = rest.endswith("+seq")
    units = _spec_int(rest[:-4] if keep_seq else rest, spec, f"{kind} units", MAX_SPEC_UNITS)
    return kind, units, keep_seq


def parse_spec(text: str) -> Spec:
    """``lstm:16,dense:4@T/F`` -> Spec; any mistake raises ModelError showing the syntax."""
    head, at, tail = text.partition("@")
    layers = tuple(_spec_layer(tok, text) for tok in head.split(","))
    if not any(kind != "dense" for kind, _, _ in layers):
        raise _spec_error(text, "it has no recurrent (lstm, gru, rnn) layer")
    if not at:
        return Spec(layers, 100, 6)
    t, slash, f = tail.partition("/")
    if not slash:
        raise _spec_error(text, f"'@{tail}' must be @T/F, timesteps and features")
    return Spec(layers, _spec_int(t.strip(), text, "T (timesteps)", MAX_SPEC_SEQ_LEN),
                _spec_int(f.strip(), text, "F (features)", MAX_SPEC_FEATURES))


def build_spec(spec: str, seed: int = 0) -> Any:
    """A Keras 3 model from ``lstm:16,dense:4@T/F`` (random weights, fixed seed)."""
    import keras

    parsed = parse_spec(spec)
    rnn_idx = [i for i, (kind, _, _) in enumerate(parsed.layers) if kind != "dense"]
    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input((parsed.seq_len, parsed.features), name="input")]
    for i, (kind, units, keep_seq) in enumerate(parsed.layers):
        if kind == "dense":
            layers.append(keras.layers.Dense(units, name=f"dense_{i}"))
            continue
        rs = keep_seq or i != rnn_idx[-1]
        base = {"lstm": "lstm", "bilstm": "lstm", "gru": "gru", "bigru": "gru", "gru_v1": "gru", "rnn": "rnn"}[kind]
        opts: dict[str, Any] = {"return_sequences": rs}
        if kind == "gru_v1":
            opts["reset_after"] = False
        cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[base]
        if kind.startswith("bi"):
            layers.append(keras.layers.Bidirectional(cls(units, **opts), name=f"bi{base}_{i}"))
        else:
            layers.append(cls(units, name=f"{kind}_{i}", **opts))
    model = keras.Sequential(layers, name="spec")
    # Random biases too, so every weight matters in the checks.
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype) if w.ndim == 1 or w.shape[0] == 2 else w
                       for w in model.get_weights()])
    return model


def load_model(path_or_spec: str | os.PathLike, seq_len: int | None = None) -> LoadedModel:
    """Load a Keras 3 / tf_keras model file or build a spec model, and describe it."""
    text = str(path_or_spec)
    if looks_like_spec(text):
        parse_spec(text)  # a malformed spec is explained here, before Keras is imported
        model = build_spec(text)
        desc = describe_keras(model, "spec", text, "spec", seq_len)
        loaded = LoadedModel(desc, model, "spec", "")
    else:
        path = Path(text)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}; pass a .keras/.h5 file or a spec like lstm:16,dense:4")
        model, flavour = _load_keras_file(path)
        name = _safe_name(path.stem)
        desc = describe_keras(model, name, str(path), flavour, seq_len)
        loaded = LoadedModel(desc, model, flavour, str(path))
    _check_against_keras(loaded)
    return loaded


def _safe_name(stem: str) -> str:
    name = re.sub(r"[^0-9A-Za-z_]", "_", stem) or "model"
    return name if not name[0].isdigit() else f"m_{name}"


def demo_model(kind: str) -> LoadedModel:
    """The trained BasicMotions demo model (see edgelstm.demo)."""
    from .demo import demo_model as _demo

    return _demo(kind)

"""Held-out accuracy of the issue-12 table models (edgelstm/models/table/): float (Keras) against int8.

Each shipped model, trained on each of the table's data sets (edgelstm.bench.table_data.DATASETS: BasicMotions,
sensor, 40 test series; JapaneseVowels, speech, 370 test series), is converted to int8 through
edgelstm.convert.api.convert, calibrated on the train split and validated on the test split (the masked
model: zero-padded variable-length series, converted --variant stateful, the one graph that skips masked steps). The numbers are
the conversion's own manifest metrics (edgelstm.convert.metrics: accuracy, keras_accuracy, agreement,
disagreements), taken from the engine that the C runtime matches bit for bit: TFLite Micro (LiteRT when
TFLM cannot run the artifact; onnxruntime for ONNX).

Verdict ``pass``: int8 accuracy within MAX_DROP_POINTS of float (either way). On BasicMotions one test series
is 2.5 points, so a pass there means int8 classifies exactly as many test series correctly as float; on
JapaneseVowels one series is 0.27 points. A model edgelstm refuses
(ModelError / UnsupportedCombination at load or conversion) is recorded as ``not supported yet``.

``python -m edgelstm.bench.accuracy [--out bench] [--only har_cnn_lstm,...] [--datasets vowels]`` runs
it alone; ``make bench`` (``ONLY=accuracy``) runs it with the others. Writes <out>/accuracy.json and <out>/accuracy.md.
"""
from __future__ import annotations

import json
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import EdgeLSTMError, ModelError, UnsupportedCombination
from .table_data import DATASETS, DEFAULT_DATASET, table_splits
from .table_models import NAMES, chosen, chosen_datasets, model_path, only_parser, spec

#: The issue-12 criterion: int8 accuracy within this many points of float on held-out data.
MAX_DROP_POINTS = 2.0
PASS, FAIL, UNSUPPORTED = "pass", "FAIL", "not supported yet"
#: (format, variant) converted per model, each int8: TFLite sequence (the graph the C runtime matches); masked
#: models only stream (stateful). ONNX unrolled int8 of the two-GRU CRNN alone takes minutes: not in the sweep.
TARGETS = (("tflite", "sequence"),)
MASKED_TARGETS = (("tflite", "stateful"),)
ENGINE_PREFERENCE = {"tflite": ("tflm", "litert"), "onnx": ("onnxruntime",)}


@dataclass
class Row:
    model: str
    dataset: str = DEFAULT_DATASET
    format: str = ""
    variant: str = ""
    quant: str = "int8"
    engine: str = ""
    params: int | None = None
    float_accuracy: float | None = None
    int8_accuracy: float | None = None
    diff_points: float | None = None  # int8 - float, in percentage points
    agreement: float | None = None  # fraction of test series where int8 and float pick the same class
    disagreements: list[int] = field(default_factory=list)  # those test series' indices
    converter_verdict: str = ""  # edgelstm.convert.verdict status (ok / degraded / broken)
    error_lsb: float | None = None
    samples: int = 0
    verdict: str = ""
    note: str = ""


def verdict_of(float_accuracy: float, int8_accuracy: float) -> str:
    """pass when int8 accuracy is within MAX_DROP_POINTS points of float, either way (a gain is series
    that int8 classifies differently too, not a better model); 1e-9: float rounding."""
    return PASS if 100.0 * abs(float_accuracy - int8_accuracy) <= MAX_DROP_POINTS + 1e-9 else FAIL


def pick_engine(artifact: dict) -> tuple[str, dict]:
    """The artifact's metrics from the preferred engine that ran it and measured accuracy."""
    for engine in ENGINE_PREFERENCE[artifact["format"]]:
        m = artifact["metrics"].get(engine)
        if isinstance(m, dict) and m.get("supported", True) and "accuracy" in m:
            return engine, m
    raise KeyError(f"{artifact['path']}: no engine measured accuracy (metrics: {sorted(artifact['metrics'])}); "
                   "the validation data needs labels and the model class scores")


def row_from_artifact(name: str, dataset: str, params: int, artifact: dict) -> Row:
    engine, m = pick_engine(artifact)
    fl, q = float(m["keras_accuracy"]), float(m["accuracy"])
    return Row(model=name, dataset=dataset, format=artifact["format"], variant=artifact["variant"], quant=artifact["quant"],
               engine=engine, params=params, float_accuracy=fl, int8_accuracy=q,
               diff_points=round(100.0 * (q - fl), 2), agreement=m.get("agreement"),
               disagreements=list(m.get("disagreements", [])),
               converter_verdict=artifact.get("verdict", {}).get("status", ""),
               error_lsb=artifact.get("verdict", {}).get("error_lsb"), samples=int(m["samples"]),
               verdict=verdict_of(fl, q))


def load_table_model(name: str, dataset: str = DEFAULT_DATASET) -> Any:
    """The shipped model `name` trained on `dataset`, as a LoadedModel with calib (train split) and validation
    (test split) set. Raises ModelError when edgelstm refuses it."""
    from ..load import load_model

    path = model_path(name, dataset)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; train the table models with `python -m edgelstm.bench.table_models "
                                f"--dataset {dataset}`")
    splits = table_splits(spec(name).padded, dataset)
    model = load_model(path)
    model.calib, model.validation = splits.train, splits.test
    return model


def targets(name: str) -> tuple[tuple[str, str], ...]:
    """(format, variant) pairs converted for the model."""
    return MASKED_TARGETS if spec(name).padded else TARGETS


def convert_int8(model: Any, out_dir: Path, fmt: str, variant: str) -> Any:
    """Convert a load_table_model() model to int8 `fmt` `variant` into out_dir; returns the Manifest."""
    from ..convert.api import convert

    return convert(model, out_dir, (fmt,), (variant,), ("int8",), calib=model.calib, validation=model.validation,
                   max_validation=len(model.validation))  # the whole test split


def measure(name: str, dataset: str = DEFAULT_DATASET) -> list[Row]:
    """One model's rows: one per converted artifact; a model or combination edgelstm refuses gives a
    'not supported yet' row, a conversion that fails a FAIL row with the error."""
    try:
        model = load_table_model(name, dataset)
    except ModelError as exc:
        return [Row(model=name, dataset=dataset, verdict=UNSUPPORTED,
                    note=str(exc).split("; supported layers")[0][:300])]
    params = int(model.desc.summary()["params"])
    rows = []
    for fmt, variant in targets(name):
        with tempfile.TemporaryDirectory(prefix="edgelstm-acc-") as tmp:
            try:
                manifest = convert_int8(model, Path(tmp) / name, fmt, variant)
            except UnsupportedCombination as exc:
                rows.append(Row(model=name, dataset=dataset, format=fmt, variant=variant, params=params,
                                verdict=UNSUPPORTED, note=str(exc)[:300]))
                continue
            except EdgeLSTMError as exc:
                rows.append(Row(model=name, dataset=dataset, format=fmt, variant=variant, params=params,
                                verdict=FAIL, note=f"conversion failed: {str(exc)[:300]}"))
                continue
        rows += [row_from_artifact(name, dataset, params, a) for a in manifest.artifacts]
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def markdown(rows: list[Row]) -> str:
    head = ("| data | model | params | artifact | engine | test series | float acc | int8 acc | diff (points) | "
            "same class | verdict |\n|---|---|---:|---|---|---:|---:|---:|---:|---:|---|")
    lines = [head]
    for r in rows:
        if r.float_accuracy is None:
            what = f"{r.format} {r.variant} {r.quant}" if r.format else "-"
            lines.append(f"| {r.dataset} | {r.model} | {r.params or '-'} | {what} | - | - | - | - | - | - | "
                         f"{r.verdict}: {r.note} |")
            continue
        same = f"{_pct(r.agreement)}" + (f" (differ: #{', #'.join(map(str, r.disagreements))})" if r.disagreements else "")
        verdict = r.verdict if r.converter_verdict in ("", "ok") else f"{r.verdict} (converter: {r.converter_verdict})"
        lines.append(f"| {r.dataset} | {r.model} | {r.params} | {r.format} {r.variant} {r.quant} | {r.engine} | "
                     f"{r.samples} | {_pct(r.float_accuracy)} | {_pct(r.int8_accuracy)} | {r.diff_points:+.1f} | {same} | {verdict} |")
    return "\n".join(lines)


TITLE = (f"held-out accuracy, float vs int8 (each model trained on BasicMotions and on JapaneseVowels, calibrated on "
         f"the train split, measured on the test split; pass = int8 within {MAX_DROP_POINTS:g} points of float)")


def bench_accuracy(out: Path | None = None, names: tuple[str, ...] = NAMES,
                   datasets: tuple[str, ...] = tuple(DATASETS)) -> tuple[str, list[dict], str]:
    """Every table model on every data set; writes <out>/accuracy.json and accuracy.md when out is given."""
    t0 = time.time()
    rows: list[Row] = []
    for dataset in datasets:
        for name in names:
            t = time.time()
            rows += measure(name, dataset)
            print(f"accuracy {dataset} {name}: {time.time() - t:.0f} s", flush=True)
    dicts = [asdict(r) for r in rows]
    table = markdown(rows)
    if out is not None:
        write(out, dicts, table, time.time() - t0)
    return TITLE, dicts, table


def write(out: Path, rows: list[dict], table: str, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"edgelstm_version": __version__, "machine": platform.machine(), "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d"), "seconds": round(seconds, 1), "max_drop_points": MAX_DROP_POINTS,
           "rows": rows}
    (out / "accuracy.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out / "accuracy.md").write_text(f"# {TITLE}\n\n{doc['date']}, {doc['machine']}, Python {doc['python']}, "
                                     f"edgelstm {__version__}\n\n{table}\n")


def main(argv: list[str] | None = None) -> int:
    p = only_parser("python -m edgelstm.bench.accuracy", __doc__)
    p.add_argument("--out", default="bench", help="folder for accuracy.json and accuracy.md (default bench/)")
    args = p.parse_args(argv)
    title, _, table = bench_accuracy(Path(args.out), chosen(p, args.only), chosen_datasets(p, args.datasets))
    print(f"## {title}\n\n{table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

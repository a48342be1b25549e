"""Per-kernel cost model of ``edgelstm profile --calibrated``: instructions and flash of an int8 C export.

The terms are the profile's ``[calibration.kernels]`` tables (written by ``make bench``,
edgelstm/bench/kernels.py, from QEMU runs on the target's board). The kernel calls come from the
model description's layer counts (profile/counts.py: units, inputs, timesteps, calls per inference)
mapped the way the C export runs them:

  LSTM / GRU layer     one ``lstm`` / ``gru`` use over the T steps of hx_run (per direction)
  Dense                ``fc`` once per hx_run (T times when time-distributed over a sequence)
  Dense softmax        + ``softmax`` over its units, per call
  Dense sigmoid/tanh   + ``lut`` over its units, per call (relu is fused into fc)

An export folder refines this with what only the export knows (export.json): each LSTM layer's
requantization mode (``calls``), the model file's own flash (``build``, from ``export --build``)
and the runtime files it links.

Instructions = sum over uses of sum(term x count) (each table's ``counts`` formula);
flash = model file (weights, biases, parameters and tables, descriptors, generated code)
+ the flash_files of the kernels used, each source file once. That is what ``edgelstm run``
reports as ``flash_bytes.total`` (link map of the firmware: <p>_model.o + runtime objects; the
check harness, startup and C library excluded).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import DataError, TargetError

#: layer cell -> table; Dense activation -> extra table after fc
RECURRENT_TABLES = {"lstm": "lstm", "gru": "gru"}
ACTIVATION_TABLES = {"softmax": "softmax", "sigmoid": "lut", "tanh": "lut"}
GATES = {"lstm": 4, "gru": 3}
LSTM_MODES = ("fast", "zero", "any", "exact")


@dataclass(frozen=True)
class KernelTable:
    """One [calibration.kernels.<name>] table."""

    name: str
    terms: dict[str, float]
    mac_padding: int = 1
    flash_files: dict[str, int] = field(default_factory=dict)
    counts: str = ""

    def term(self, key: str) -> float:
        return float(self.terms.get(key, 0.0))


@dataclass(frozen=True)
class KernelCalibration:
    board: str
    date: str
    source: str
    tables: dict[str, KernelTable]


@dataclass(frozen=True)
class KernelUse:
    """One kernel as the model runs it per inference: ``calls`` calls, each of ``steps`` steps (recurrent)
    over ``inputs`` -> ``units`` (or ``elements``)."""

    table: str
    layer: str
    calls: int = 1
    steps: int = 1
    inputs: int = 0
    units: int = 0
    elements: int = 0
    mode: str = ""  # lstm: el_lstm_s8_t.mode, "" = unknown (fast assumed)


def padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


_NUMBER_KEYS = ("per_call", "per_step", "per_unit", "per_input", "per_mac", "per_element",
                "mode_zero_per_unit", "mode_any_per_unit", "mode_exact_per_unit")


def load_calibration(calibration: Mapping[str, Any], where: str = "profile") -> KernelCalibration | None:
    """The [calibration.kernels] tables of a profile's [calibration], or None when it has none."""
    raw = calibration.get("kernels")
    if not isinstance(raw, dict):
        return None
    tables = {}
    for name, t in raw.items():
        if not isinstance(t, dict):
            continue
        terms = {}
        for key in _NUMBER_KEYS:
            v = t.get(key, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise TargetError(f"{where}: calibration.kernels.{name}.{key} must be a number >= 0, got {v!r}; "
                                  "re-run `make bench ONLY=kernels`")
            terms[key] = float(v)
        files = t.get("flash_files", {})
        if not isinstance(files, dict) or not all(isinstance(n, int) for n in files.values()):
            raise TargetError(f"{where}: calibration.kernels.{name}.flash_files must map source stems to bytes; "
                              "re-run `make bench ONLY=kernels`")
        tables[name] = KernelTable(name, terms, int(t.get("mac_padding", 1)), dict(files), str(t.get("counts", "")))
    if not tables:
        return None
    return KernelCalibration(str(raw.get("board", "")), str(raw.get("date", "")), str(raw.get("source", "")), tables)


def uses_from_counts(layers: list[dict[str, Any]], seq_len: int,
                     lstm_modes: list[str] | None = None) -> list[KernelUse]:
    """The kernel uses of a model from its per-layer counts (count_model's ``layers``)."""
    modes = list(lstm_modes or [])
    out: list[KernelUse] = []
    for layer in layers:
        if layer["type"] == "dense":
            calls = int(layer["calls"])
            out.append(KernelUse("fc", layer["name"], calls=calls, inputs=layer["input_size"], units=layer["units"]))
            act = ACTIVATION_TABLES.get(layer.get("activation", ""))
            if act:
                out.append(KernelUse(act, layer["name"], calls=calls, elements=layer["units"]))
            continue
        table = RECURRENT_TABLES[layer["cell"]]
        units = layer["units"] // layer["directions"] if layer["directions"] == 2 else layer["units"]
        for _ in range(layer["directions"]):
            mode = modes.pop(0) if table == "lstm" and modes else ""
            out.append(KernelUse(table, layer["name"], calls=1, steps=seq_len, inputs=layer["input_size"],
                                 units=units, mode=mode))
    return out


def instructions(use: KernelUse, table: KernelTable) -> float:
    """Instructions of one use, by the table's ``counts`` formula."""
    t = table.term
    if use.table in GATES:
        pad = table.mac_padding
        macs = GATES[use.table] * use.units * (padded(use.inputs, pad) + padded(use.units, pad))
        step = t("per_step") + t("per_unit") * use.units + t("per_input") * use.inputs + t("per_mac") * macs
        if use.mode and use.mode != "fast":
            step += t(f"mode_{use.mode}_per_unit") * use.units
        per_call = t("per_call") + use.steps * step
    elif use.table == "fc":
        per_call = (t("per_call") + t("per_unit") * use.units + t("per_input") * use.inputs
                    + t("per_mac") * use.inputs * use.units)
    else:
        per_call = t("per_call") + t("per_element") * use.elements
    return use.calls * per_call


def predict(layers: list[dict[str, Any]], seq_len: int, cal: KernelCalibration, cycles_per_instruction: float,
            clock_mhz: float, model_flash_bytes: int, lstm_modes: list[str] | None = None) -> dict[str, Any]:
    """Per-kernel rows and totals: instructions, latency (instructions x CPI / clock) and flash."""
    uses = uses_from_counts(layers, seq_len, lstm_modes)
    missing = sorted({u.table for u in uses} - set(cal.tables))
    if missing:
        raise TargetError(f"[calibration.kernels] has no table for {', '.join(missing)}; re-run "
                          "`make bench ONLY=kernels` for this core")
    rows, files = [], {}
    for u in uses:
        table = cal.tables[u.table]
        n = instructions(u, table)
        new = {f: b for f, b in table.flash_files.items() if f not in files}
        files.update(new)
        rows.append({"kernel": u.table, "layer": u.layer, "calls": u.calls, "steps": u.steps, "inputs": u.inputs,
                     "units": u.units or u.elements, "mode": u.mode, "instructions": round(n),
                     "latency_us": n * cycles_per_instruction / clock_mhz,
                     "flash_bytes": sum(new.values()), "flash_files": sorted(new)})
    total = sum(r["instructions"] for r in rows)
    kernel_flash = sum(files.values())
    return {"kernels": rows, "instructions": total, "cycles": total * cycles_per_instruction,
            "latency_us": total * cycles_per_instruction / clock_mhz,
            "flash": {"model": model_flash_bytes, "kernels": kernel_flash, "total": model_flash_bytes + kernel_flash,
                      "files": files},
            "source": f"{cal.source} ({cal.board}, {cal.date})", "board": cal.board, "date": cal.date}


def from_export(export_dir: str | Path) -> dict[str, Any]:
    """What the profiler takes from an export folder (export.json): the model file's flash as ``export
    --build`` measured it, each LSTM layer's requantization mode (its ``calls``), and its target."""
    f = Path(export_dir) / "export.json"
    if not f.is_file():
        raise DataError(f"{export_dir} is not an edgelstm export (no export.json); create one with `edgelstm export`")
    try:
        info = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{f} is not valid JSON ({exc}); write the export again with `edgelstm export`") from None
    if info.get("quant") != "int8":
        raise DataError(f"{export_dir} is a {info.get('quant')} export; the kernel tables model int8 exports")
    build = info.get("build")
    if not isinstance(build, dict) or "flash_bytes" not in build:
        raise DataError(f"{export_dir} has no build sizes; export it again with --build so the model's flash is known")
    if "calls" not in info:
        raise DataError(f"{export_dir} records no kernel calls (an older export); export it again")
    modes = [c.get("mode", "") for c in info["calls"] if c["kernel"] == "lstm_step_s8"]
    return {"dir": str(export_dir), "model_flash_bytes": int(build["flash_bytes"]["model"]),
            "model_flash_source": f"{info['name']}_model.c as `edgelstm export --build` compiled it for "
                                  f"{build['target']} (text + rodata: weights, biases, parameters, tables, "
                                  "descriptors, generated code)",
            "lstm_modes": modes, "target": info.get("target", ""), "kernels": [k["kernel"] for k in info["kernels"]]}

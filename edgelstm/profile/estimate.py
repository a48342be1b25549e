"""Latency, energy and fit of counted work on a target profile.

Latency: cycles = MACs x cycles/MAC + sum over elementwise op classes of count x
cycles/op + per-layer-per-step overhead, all from the profile (cycles/MAC from
``[calibration]`` with ``calibrated=True`` when measured). Two energy models:
  * ``mcu``: cycles x (uA/MHz x V) of the chip's datasheet: the battery's view;
  * ``op_level``: Horowitz 45 nm per-operation energies for compute plus one
    32-bit SRAM read per 4 bytes of weights and activations fetched by each
    MAC: a process-level lower bound that ignores the core's overhead.
"""
from __future__ import annotations

from typing import Any

from . import kernel_costs
from .targets import Target

_INT_OPS = {"bias_add": ("int32_add",), "gate_add": ("int32_add",), "add": ("int32_add",), "sub": ("int32_add",),
            "mul": ("int32_mult",), "relu": ("int32_add",), "max": ("int32_add",)}
_FLOAT_OPS = {"bias_add": ("fp32_add",), "gate_add": ("fp32_add",), "add": ("fp32_add",), "sub": ("fp32_add",),
              "mul": ("fp32_mult",), "relu": ("fp32_add",), "max": ("fp32_add",)}
#: sigmoid/tanh/softmax as ~10 multiply-adds (polynomial / integer reference iterations): an estimate.
TRANSCENDENTAL_MACS = {"sigmoid": 10, "tanh": 10, "softmax": 20, "rsqrt": 10}


def cycles_per_mac(target: Target, dtype: str, calibrated: bool) -> tuple[float, bool]:
    """(cycles per MAC, whether the measured calibration was used)."""
    ipm = target.calibrated_instructions_per_mac
    if calibrated and ipm is not None:
        return ipm * float(target.calibration.get("cycles_per_instruction", 1.0)), True
    return target.cycles[dtype]["mac"], False


def layer_cycles(layer: dict[str, Any], target: Target, dtype: str, cpm: float,
                 all_inclusive: bool = False) -> dict[str, float]:
    """Cycles of one layer for the whole sequence and per call (one timestep, or one Dense application).

    all_inclusive: cpm is a measured figure (edgelstm run: all instructions of an inference / its
    MACs) that already holds the elementwise work and the per-step overhead."""
    cyc = dict(target.cycles[dtype])
    if all_inclusive:
        cyc = {k: 0.0 for k in cyc}
    cyc.setdefault("max", cyc["relu"])  # a comparison (profiles without their own figure)
    cyc.setdefault("rsqrt", cyc["sigmoid"])  # one table lookup / libm call, as sigmoid (no profile figure yet)
    ew_total = sum(n * cyc[op] for op, n in layer["elementwise"].items())
    if "directions" not in layer:  # dense, conv, pooling: one application per call
        per_call_ew = sum(n * cyc[op] for op, n in layer["elementwise_per_call"].items())
        per_call = layer["macs_per_call"] * cpm + per_call_ew + cyc["overhead_per_layer_step"]
        return {"total": per_call * layer["calls"], "per_call": per_call}
    steps = layer["calls"] * layer["directions"]
    total = layer["macs"] * cpm + ew_total + steps * cyc["overhead_per_layer_step"]
    per_call_ew = sum(n * cyc[op] for op, n in layer["elementwise_per_step"].items())
    per_call = layer["macs_per_step"] * cpm + per_call_ew + layer["directions"] * cyc["overhead_per_layer_step"]
    return {"total": total, "per_call": per_call}


def op_level_energy_pj(counts: dict[str, Any], target: Target) -> dict[str, float]:
    e = target.energy_pj
    dtype = counts["mac_dtype"]
    is_float = dtype == "float32"
    mac_pj = {"int8": e["int8_mult"] + e["int32_add"], "int16": e["int32_mult"] + e["int32_add"],
              "float32": e["fp32_mult"] + e["fp32_add"]}[dtype]
    table = _FLOAT_OPS if is_float else _INT_OPS
    madd = (e["fp32_mult"] + e["fp32_add"]) if is_float else (e["int32_mult"] + e["int32_add"])
    macs = counts["totals"]["macs"]
    compute = macs * mac_pj
    ew = 0.0
    for op, n in counts["totals"]["elementwise"].items():
        if op in TRANSCENDENTAL_MACS:
            ew += n * TRANSCENDENTAL_MACS[op] * madd
        else:
            ew += n * sum(e[k] for k in table[op])
    sb = counts["storage_bytes"]
    memory = macs * (sb["weight"] + sb["act"]) / 4.0 * e["sram_read_32bit"]
    return {"compute_pj": compute, "elementwise_pj": ew, "memory_pj": memory, "total_pj": compute + ew + memory}


def kernel_model(counts: dict[str, Any], target: Target, export: dict[str, Any] | None = None
                 ) -> tuple[dict[str, Any] | None, str]:
    """The per-kernel prediction (kernel_costs.predict) of an int8 model on a target with
    [calibration.kernels] tables, or (None, why not)."""
    if counts["quant"] != "int8":
        return None, f"the kernel tables model int8 C exports, not {counts['quant']}"
    cal = kernel_costs.load_calibration(target.calibration, target.path.name)
    if cal is None:
        return None, "the profile has no [calibration.kernels] tables (run `make bench ONLY=kernels`)"
    cpi = float(target.calibration.get("cycles_per_instruction", 1.0))
    if export is not None:
        model_flash = int(export["model_flash_bytes"])
        how = export["model_flash_source"]
        modes = list(export["lstm_modes"])
    else:
        model_flash = int(counts["totals"]["weight_bytes"])
        how = ("weights, biases and quantization parameters as counted (no export given: the fused kernels' "
               "layouts, tables, descriptors and generated code are not included; pass --export DIR)")
        modes = []
    pred = kernel_costs.predict(counts["layers"], counts["seq_len"], cal, cpi, target.clock_mhz, model_flash, modes)
    pred["flash"]["model_source"] = how
    if export is None and any(r["kernel"] == "lstm" for r in pred["kernels"]):
        pred["note"] = ("LSTM requantization mode unknown without an export (pass --export DIR): the 'fast' "
                        "mode's terms are used")
    return pred, ""


def estimate(counts: dict[str, Any], target: Target, calibrated: bool = False,
             export: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-target results for the report's ``targets`` object."""
    dtype = counts["mac_dtype"]
    cpm, used_cal = cycles_per_mac(target, dtype, calibrated)
    per_layer = [layer_cycles(l, target, dtype, cpm, all_inclusive=used_cal) for l in counts["layers"]]
    cycles = sum(p["total"] for p in per_layer)
    stream_cycles = sum(p["per_call"] for p in per_layer)  # stateful variant: every layer once per new sample
    T = counts["seq_len"]
    tot = counts["totals"]
    flash = tot["weight_bytes"] + target.runtime_flash_bytes
    kernels, why_not = kernel_model(counts, target, export) if calibrated else (None, "")
    if kernels is not None:
        cycles = kernels["cycles"]
        cpi = kernels["cycles"] / kernels["instructions"] if kernels["instructions"] else 1.0
        per_layer = [{"total": sum(r["instructions"] for r in kernels["kernels"] if r["layer"] == l["name"]) * cpi}
                     for l in counts["layers"]]
        stream_cycles = cpi * sum(r["instructions"] / (r["steps"] * r["calls"]) if r["steps"] > 1 else
                                  r["instructions"] / max(r["calls"], 1) for r in kernels["kernels"])
        flash = kernels["flash"]["total"]
        used_cal = True
    ram = tot["model_ram_bytes"] + target.runtime_ram_bytes
    fits_flash, fits_ram = flash <= target.flash_bytes, ram <= target.sram_bytes
    warnings = []
    if not fits_flash:
        warnings.append(f"{target.name}: flash over budget: needs {flash:,} B of {target.flash_bytes:,} B "
                        f"({flash / target.flash_bytes:.0%}); use int8, fewer units, or a larger part")
    if not fits_ram:
        warnings.append(f"{target.name}: RAM over budget: needs {ram:,} B of {target.sram_bytes:,} B "
                        f"({ram / target.sram_bytes:.0%}); shorten the sequence (stream with the stateful variant), "
                        "use int8, or a larger part")
    if calibrated and not used_cal:
        warnings.append(f"{target.name}: --calibrated but the profile has no measured instructions_per_mac; "
                        "run `edgelstm run` on this target first (using the datasheet estimate)")
    notes = [] if target.power_verified else [
        f"{target.name}: energy per cycle not verified against a datasheet ({target.sources.get('power', '')})"]
    if kernels is not None and kernels.get("note"):
        notes.append(f"{target.name}: {kernels['note']}")
    if calibrated and kernels is None and used_cal:
        notes.append(f"{target.name}: per-kernel model not used ({why_not}); the measured instructions per MAC "
                     f"({cpm:g} cycles/MAC) is used instead")
    mcu_pj = cycles * target.pj_per_cycle
    op = op_level_energy_pj(counts, target)
    return {
        "name": target.name, "chip": target.chip, "clock_mhz": target.clock_mhz,
        "cycles": round(cycles), "cycles_per_mac": cpm,
        "instructions": kernels["instructions"] if kernels is not None else None, "calibrated": used_cal,
        "latency_us": cycles / target.clock_mhz,
        "latency_per_step_us": cycles / target.clock_mhz / T,
        "stream_step_latency_us": stream_cycles / target.clock_mhz,
        "energy_uj": mcu_pj * 1e-6,
        "energy": {"mcu_uj": mcu_pj * 1e-6, "pj_per_cycle": target.pj_per_cycle,
                   "op_level_uj": op["total_pj"] * 1e-6,
                   "op_level_breakdown_uj": {k.replace("_pj", "_uj"): v * 1e-6 for k, v in op.items()},
                   "power_verified": target.power_verified},
        "layer_cycles": [round(p["total"]) for p in per_layer],
        "flash_bytes": flash, "flash_budget_bytes": target.flash_bytes,
        "ram_bytes": ram, "ram_budget_bytes": target.sram_bytes,
        "flash_used": flash / target.flash_bytes, "ram_used": ram / target.sram_bytes,
        "fits": fits_flash and fits_ram, "fits_flash": fits_flash, "fits_ram": fits_ram,
        "warnings": warnings, "notes": notes,
        "model": "per-kernel" if kernels is not None else ("per-MAC (measured)" if used_cal else "datasheet"),
        "kernel_model": kernels,
    }

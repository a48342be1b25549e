"""The report as JSON and Markdown, and the files of ``edgelstm profile -o DIR``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def fmt_int(n: float) -> str:
    return f"{int(round(n)):,}"


def fmt_bytes(n: float) -> str:
    n = float(n)
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{int(n)} B"


def fmt_us(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.1f} us"


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def layer_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for l in report["layers"]:
        kind = l.get("cell", l["type"]) + (" x2" if l.get("directions") == 2 else "")
        if l.get("cell") == "gru":
            kind += "" if l.get("reset_after") else " (reset_after=False)"
        rows.append([l["name"], kind, str(l["input_size"]), str(l["units"]), fmt_int(l["macs_per_step"]) if l["macs_per_step"] or l["type"] != "dense" else f"{fmt_int(l['macs_per_call'])} (once)",
                     fmt_int(l["macs"]), fmt_int(l["params"]), fmt_bytes(l["weight_bytes"]), fmt_bytes(l["state_bytes"])])
    return rows


LAYER_HEADER = ["layer", "type", "in", "units", "MACs/step", "MACs/inference", "params", "weights", "state"]
GATE_HEADER = ["layer", "gate", "input MACs/step", "recurrent MACs/step", "MACs/step", "bias adds/step"]
TARGET_HEADER = ["target", "clock", "latency", "per step", "energy (MCU)", "energy (45 nm ops)", "flash", "RAM", "fits"]


def gate_rows(report: dict[str, Any]) -> list[list[str]]:
    return [[l["name"], g, fmt_int(c["input_macs_per_step"]), fmt_int(c["recurrent_macs_per_step"]),
             fmt_int(c["macs_per_step"]), fmt_int(c["bias_adds_per_step"])]
            for l in report["layers"] for g, c in l["gates"].items()]


def target_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, t in report["targets"].items():
        rows.append([name, f"{t['clock_mhz']:g} MHz", fmt_us(t["latency_us"]), fmt_us(t["latency_per_step_us"]),
                     f"{t['energy']['mcu_uj']:.1f} uJ" + ("" if t["energy"]["power_verified"] else "*"),
                     f"{t['energy']['op_level_uj']:.3f} uJ",
                     f"{fmt_bytes(t['flash_bytes'])} / {fmt_bytes(t['flash_budget_bytes'])}",
                     f"{fmt_bytes(t['ram_bytes'])} / {fmt_bytes(t['ram_budget_bytes'])}",
                     "yes" if t["fits"] else "**NO**"])
    return rows


KERNEL_HEADER = ["target", "kernel", "layer", "calls x steps", "in -> units", "instructions", "latency", "flash"]


def kernel_rows(report: dict[str, Any]) -> list[list[str]]:
    """The per-kernel prediction (--calibrated with [calibration.kernels]) of every target that has one."""
    rows = []
    for name, t in report["targets"].items():
        k = t.get("kernel_model")
        if not k:
            continue
        for r in k["kernels"]:
            shape = f"{r['inputs']} -> {r['units']}" if r["inputs"] else str(r["units"])
            rows.append([name, r["kernel"] + (f" ({r['mode']})" if r["mode"] else ""), r["layer"],
                         f"{r['calls']} x {r['steps']}", shape, fmt_int(r["instructions"]), fmt_us(r["latency_us"]),
                         fmt_bytes(r["flash_bytes"]) if r["flash_bytes"] else "(counted above)"])
        rows.append([name, "**total**", "", "", "", fmt_int(k["instructions"]), fmt_us(k["latency_us"]),
                     f"{fmt_bytes(k['flash']['total'])} (model {fmt_bytes(k['flash']['model'])} + kernels "
                     f"{fmt_bytes(k['flash']['kernels'])})"])
    return rows


def kernel_sources(report: dict[str, Any]) -> list[str]:
    """Where each target's terms came from, and how the model's flash was taken."""
    out = []
    for name, t in report["targets"].items():
        k = t.get("kernel_model")
        if k:
            out.append(f"{name}: terms from profiles [calibration.kernels]: {k['source']}; model flash: "
                       f"{k['flash']['model_source']}")
        elif t.get("calibrated"):
            out.append(f"{name}: no per-kernel tables used; one measured instructions-per-MAC figure "
                       f"({t['cycles_per_mac']:g})")
    return out


def to_markdown(report: dict[str, Any]) -> str:
    tot = report["totals"]
    lines = [f"# edgelstm profile: {report['model']}", "",
             f"Sequence length {report['seq_len']}, {report['input_size']} features, quantization **{report['quant']}** "
             f"({report['mac_dtype']} MACs). Totals per inference: **{fmt_int(tot['macs'])} MACs**, "
             f"{fmt_int(tot['elementwise_ops'])} elementwise ops, {fmt_int(tot['params'])} parameters, "
             f"{fmt_bytes(tot['weight_bytes'])} of weights, {fmt_bytes(tot['ram_bytes'])} of model RAM "
             f"(activations {fmt_bytes(tot['activation_bytes'])}, state {fmt_bytes(tot['state_bytes'])}, "
             f"scratch {fmt_bytes(tot['scratch_bytes'])}).", "", "## Layers", ""]
    lines += _table(LAYER_HEADER, layer_rows(report))
    lines += ["", "## Gates (per timestep, both directions for Bidirectional)", ""]
    lines += _table(GATE_HEADER, gate_rows(report))
    lines += ["", "## Elementwise work per inference", ""]
    ew = {k: v for k, v in tot["elementwise"].items() if v}
    lines += _table(list(ew), [[fmt_int(v) for v in ew.values()]])
    wb = tot["weight_bytes_by_type"]
    lines += ["", "## Storage", "",
              f"Weights {fmt_bytes(wb['weight_bytes'])}, biases {fmt_bytes(wb['bias_bytes'])}, quantization parameters "
              f"{fmt_bytes(wb['qparam_bytes'])} (bytes per element: {report['storage_bytes']}).", "",
              "## Targets", ""]
    lines += _table(TARGET_HEADER, target_rows(report))
    lines += ["", "Latency and energy are estimates from the target profiles (profiles/*.toml, every figure with its "
              "source); * = energy per cycle not verified against a datasheet. Flash and RAM include each target's "
              "runtime estimate."]
    krows = kernel_rows(report)
    if krows:
        lines += ["", "## Per-kernel prediction (--calibrated)", ""]
        lines += _table(KERNEL_HEADER, krows)
        lines += ["", "Instructions = sum of each kernel table's terms x counts (calls, steps, units, inputs, MACs); "
                  "latency = instructions x cycles per instruction / clock; flash = model file + the kernels' source "
                  "files (each once), as `edgelstm run` reports it."]
    srcs = kernel_sources(report)
    if srcs:
        lines += [""] + [f"- {s}" for s in srcs]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def summary_text(report: dict[str, Any]) -> str:
    """Terminal summary: the targets table and any over-budget warnings."""
    rows = target_rows(report)
    header = TARGET_HEADER
    widths = [max(len(h), *(len(r[i].replace("**", "")) for r in rows)) for i, h in enumerate(header)]
    out = [f"{report['model']}: {fmt_int(report['totals']['macs'])} MACs per inference (T={report['seq_len']}, "
           f"{report['quant']}), {fmt_bytes(report['totals']['weight_bytes'])} weights", "",
           "  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.replace("**", "").ljust(w) for c, w in zip(r, widths)) for r in rows]
    over = [w for w in report.get("warnings", []) if "over budget" in w]
    out += [f"warning: {w}" for w in over]
    return "\n".join(out)


def write_reports(report: dict[str, Any], out_dir: str | Path, html: str) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(to_json(report) + "\n")
    paths["md"].write_text(to_markdown(report))
    paths["html"].write_text(html)
    return paths

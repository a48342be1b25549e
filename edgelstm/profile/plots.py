"""Report plots (matplotlib Agg): PNG bytes, written beside the report and embedded in the HTML."""
from __future__ import annotations

import io
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GATE_COLOURS = {"input": "#4C72B0", "forget": "#DD8452", "cell": "#55A868", "output": "#C44E52",
                "update": "#8172B3", "reset": "#937860", "candidate": "#DA8BC3", "dense": "#8C8C8C"}


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def macs_per_gate(report: dict[str, Any]) -> bytes:
    """Stacked bars: MACs per inference of each gate (input part solid, recurrent part hatched) per layer."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    names = [l["name"] for l in report["layers"]]
    seen: set[str] = set()
    T = report["seq_len"]
    for x, layer in enumerate(report["layers"]):
        bottom = 0.0
        if layer["type"] == "dense":
            ax.bar(x, layer["macs"], color=GATE_COLOURS["dense"], label=None if "dense" in seen else "dense")
            seen.add("dense")
            continue
        for gate, c in layer["gates"].items():
            for part, hatch in (("input_macs_per_step", ""), ("recurrent_macs_per_step", "//")):
                v = c[part] * T
                label = None
                if gate not in seen and not hatch:
                    label, _ = gate, seen.add(gate)
                ax.bar(x, v, bottom=bottom, color=GATE_COLOURS.get(gate, "#999999"), hatch=hatch,
                       edgecolor="white", linewidth=0.5, label=label)
                bottom += v
    ax.bar(0, 0, color="white", edgecolor="#555555", hatch="//", label="recurrent part")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(f"MACs per inference (T={T})")
    ax.set_title(f"MACs per gate per layer: {report['model']}")
    ax.legend(fontsize=8, ncol=2, frameon=False)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    return _png(fig)


def targets_bars(report: dict[str, Any]) -> bytes:
    """Latency and energy (both models) per target, log scale."""
    names = list(report["targets"])
    t = report["targets"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    lat = [t[n]["latency_us"] / 1000 for n in names]
    bars = a.bar(names, lat, color=["#4C72B0" if t[n]["fits"] else "#C44E52" for n in names])
    if max(lat) > 100 * min(lat):  # log only when the range needs it (e.g. with the host)
        a.set_yscale("log")
    a.set_ylabel("latency per inference (ms)")
    a.set_title("latency (red: does not fit)")
    a.bar_label(bars, labels=[f"{v:.3g}" for v in lat], fontsize=7)
    x = range(len(names))
    b.bar([i - 0.2 for i in x], [t[n]["energy"]["mcu_uj"] for n in names], width=0.4, label="MCU (cycles x uA/MHz x V)",
          color="#55A868")
    b.bar([i + 0.2 for i in x], [t[n]["energy"]["op_level_uj"] for n in names], width=0.4,
          label="op-level (45 nm, Horowitz)", color="#8172B3")
    b.set_xticks(list(x), names)
    b.set_yscale("log")
    b.set_ylabel("energy per inference (uJ)")
    b.set_title("energy")
    b.legend(fontsize=7, frameon=False)
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    fig.tight_layout()
    return _png(fig)


def latency_vs_seq_len(report: dict[str, Any], latency_at: Callable[[int], dict[str, float]]) -> bytes:
    """Latency per inference against sequence length; ``latency_at(T)`` -> {target: us}."""
    T0 = report["seq_len"]
    lengths = sorted({max(1, int(T0 * f)) for f in (0.1, 0.25, 0.5, 1, 2, 4)} | {1})
    series: dict[str, list[float]] = {n: [] for n in report["targets"]}
    for T in lengths:
        for n, us in latency_at(T).items():
            series[n].append(us / 1000)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for n, ys in series.items():
        ax.plot(lengths, ys, marker="o", markersize=3, label=n)
    ax.axvline(T0, color="#999999", linestyle="--", linewidth=1)
    ax.text(T0, max(max(v) for v in series.values()), f" T={T0}", fontsize=8, va="top", color="#555555")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T (timesteps)")
    ax.set_ylabel("latency per inference (ms)")
    ax.set_title("latency vs sequence length")
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(fig)

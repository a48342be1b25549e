"""The debugger's report: a terminal table, report.json, and report.html with the plots embedded."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

HEADER = ("tensor", "type", "calibrated", "seen", "sat %", "max err LSB", "rel rmse", "diverges", "out err if float")


def _range(r: list[float] | None) -> str:
    return "" if r is None else f"[{r[0]:.4g}, {r[1]:.4g}]"


def rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    named = {c["tag"] for c in report["culprits"]}
    out = []
    for r in report["tensors"]:
        wif = r.get("what_if_float")
        out.append((r["tag"] + (" (in kernel)" if r.get("internal") else ""), r["dtype"], _range(r["calibrated"]),
                    _range(r["seen"]), f"{100 * r['saturation']:.1f}",
                    "" if r["max_error_lsb"] is None else f"{r['max_error_lsb']:.1f}",
                    "" if r["rel_rmse"] is None else f"{100 * r['rel_rmse']:.1f}%",
                    "" if r["diverges_at"] is None else f"step {r['diverges_at']}",
                    ("" if wif is None else f"{wif:.3g}") + ("  <<" if r["tag"] in named else "")))
    return out


def summary_lines(report: dict[str, Any]) -> list[str]:
    o = report["output"]
    head = (f"inspect {Path(report['artifact']).name} ({report['format']} {report['variant']} {report['quant']}) on "
            f"{report['samples']} sequences x {report['seq_len']} steps")
    verdict = o["verdict"].upper() + (f" ({'; '.join(o['reasons'])})" if o["reasons"] else "")
    return [head, f"output ({o['engine']}): max error {o['max_abs_error']:.3g} ({o['error_lsb']:.1f} LSB), cosine "
                  f"{o['cosine']:.4f} (worst sample {o['cosine_worst_sample']:.4f}) -> {verdict}"]


def render_text(report: dict[str, Any]) -> str:
    table = rows(report)
    widths = [max(len(str(x[i])) for x in [HEADER, *table]) for i in range(len(HEADER))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = summary_lines(report) + ["", fmt.format(*HEADER), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r).rstrip() for r in table]
    sim = report["simulation"]["output_max_error"]
    lines += ["", f"simulated output error {sim:.3g} (the artifact: {report['output']['max_abs_error']:.3g}); "
                  "'out err if float': the simulation with that one tensor in float"]
    if report["culprits"]:
        lines.append("culprits:")
        lines += [f"  {c['tag']}: {c['why']}" for c in report["culprits"]]
    else:
        lines.append("culprits: none (no tensor's quantization stands out)")
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)


def plot_errors(report: dict[str, Any]) -> bytes:
    """Relative error per timestep of the culprits and the tensors with the largest error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = [c["tag"] for c in report["culprits"]]
    series = [r for r in report["tensors"] if len(r["rel_rmse_per_step"]) > 1]
    series.sort(key=lambda r: (r["tag"] not in named, -(r["rel_rmse"] or 0)))
    fig, ax = plt.subplots(figsize=(8, 4))
    for r in series[:8]:
        ax.plot(r["rel_rmse_per_step"], label=r["tag"] + (" (culprit)" if r["tag"] in named else ""),
                linewidth=2.2 if r["tag"] in named else 1.0)
    ax.set_xlabel("timestep")
    ax.set_ylabel("relative RMS error")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title(f"{Path(report['artifact']).name}: error against the float model per step")
    if series:
        ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def render_html(report: dict[str, Any], png: bytes) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADER)
    named = {c["tag"] for c in report["culprits"]}
    body = "".join("<tr" + (' class="culprit"' if r[0].split(" ")[0] in named else "") + ">"
                   + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows(report))
    culprits = "".join(f"<li><b>{esc(c['tag'])}</b>: {esc(c['why'])}</li>" for c in report["culprits"]) or \
        "<li>none: no tensor's quantization stands out</li>"
    img = base64.b64encode(png).decode("ascii")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>edgelstm inspect: {esc(Path(report['artifact']).name)}</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
            "table{border-collapse:collapse;font-size:.85em}td,th{padding:.2em .6em;border-bottom:1px solid #eee;"
            "text-align:left}th{background:#f4f4f4}tr.culprit{background:#ffe9e6;font-weight:bold}"
            "img{max-width:100%;border:1px solid #eee}</style></head><body>"
            f"<h1>edgelstm inspect</h1><p>{'<br>'.join(esc(l) for l in summary_lines(report))}</p>"
            f"<h2>Culprits</h2><ul id='culprits'>{culprits}</ul>"
            f"<h2>Error per timestep</h2><img id='plot-errors' alt='error per timestep' src='data:image/png;base64,{img}'>"
            f"<h2>Tensors</h2><table id='tensors'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p>{esc(report['simulation']['note'])}</p>"
            + "".join(f"<p>note: {esc(n)}</p>" for n in report["notes"]) + "</body></html>")


def write(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """report.json, report.html and errors.png into out_dir (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_errors(report)
    files = [out_dir / "report.json", out_dir / "report.html", out_dir / "errors.png"]
    files[0].write_text(json.dumps(report, indent=2))
    files[1].write_text(render_html(report, png))
    files[2].write_bytes(png)
    return files

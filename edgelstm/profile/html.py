"""A self-contained report.html: tables plus the plots embedded as base64 PNG (no external files)."""
from __future__ import annotations

import base64
import html as _html
from typing import Any

from . import report as rep

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1050px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{padding:.25em .7em;border-bottom:1px solid #eee}
th{background:#f4f4f4;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.no{color:#b00020;font-weight:bold} .yes{color:#1b7f3b} .warn{background:#fff4e5;border-left:4px solid #f0a000;padding:.4em .8em;margin:.3em 0}
.cards{display:flex;gap:1em;flex-wrap:wrap} .card{background:#f7f9fc;border:1px solid #e3e8f0;border-radius:6px;padding:.6em 1em}
.card b{display:block;font-size:1.3em} img{max-width:100%;border:1px solid #eee;margin:.4em 0} .note{color:#666;font-size:.85em}
"""


def _esc(v: Any) -> str:
    return _html.escape(str(v))


def _table(table_id: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = "num" if i and c and (c[0].isdigit() or c[0] == "-") else ""
            if c in ("yes", "**NO**"):
                cls, c = ("yes", "yes") if c == "yes" else ("no", "NO")
            cells.append(f'<td class="{cls}">{_esc(c)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _img(img_id: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{img_id}" class="plot" alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def render(report: dict[str, Any], plots: dict[str, bytes]) -> str:
    tot = report["totals"]
    cards = [("MACs / inference", rep.fmt_int(tot["macs"])), ("MACs / step (recurrent)", rep.fmt_int(tot["recurrent_macs_per_step"])),
             ("parameters", rep.fmt_int(tot["params"])), ("weights", rep.fmt_bytes(tot["weight_bytes"])),
             ("model RAM", rep.fmt_bytes(tot["ram_bytes"])), ("elementwise ops", rep.fmt_int(tot["elementwise_ops"]))]
    ew = {k: v for k, v in tot["elementwise"].items() if v}
    wb = tot["weight_bytes_by_type"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>edgelstm profile: {_esc(report['model'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>edgelstm profile: {_esc(report['model'])}</h1>",
        f"<p>Sequence length <b>{report['seq_len']}</b>, {report['input_size']} features, quantization "
        f"<b>{_esc(report['quant'])}</b> ({_esc(report['mac_dtype'])} MACs). Source: {_esc(report.get('source') or 'n/a')}</p>",
        '<div class="cards">' + "".join(f'<div class="card"><b>{_esc(v)}</b>{_esc(k)}</div>' for k, v in cards) + "</div>",
    ]
    if report.get("warnings"):
        parts.append("<h2>Warnings</h2>" + "".join(f'<div class="warn">{_esc(w)}</div>' for w in report["warnings"]))
    parts += [
        "<h2>Targets</h2>", _table("targets", rep.TARGET_HEADER, rep.target_rows(report)),
        '<p class="note">Estimates from profiles/*.toml (every figure with its source). * energy per cycle not verified '
        "against a datasheet. Flash and RAM include each target's runtime estimate.</p>",
        _img("plot-targets", plots["targets"], "latency and energy per target"),
        *(["<h2>Per-kernel prediction (--calibrated)</h2>",
            _table("kernels", rep.KERNEL_HEADER, [[c.replace("**", "") for c in r] for r in rep.kernel_rows(report)]),
            '<p class="note">Instructions = sum of each kernel table\'s terms x counts; latency = instructions x '
            "cycles per instruction / clock; flash = model file + the kernels' source files (each once), as "
            "<code>edgelstm run</code> reports it.</p>"] if rep.kernel_rows(report) else []),
        *[f'<p class="note">{_esc(s)}</p>' for s in rep.kernel_sources(report)],
        "<h2>Layers</h2>", _table("layers", rep.LAYER_HEADER, rep.layer_rows(report)),
        "<h2>MACs per gate</h2>", _img("plot-gates", plots["gates"], "MACs per gate per layer"),
        _table("gates", rep.GATE_HEADER, rep.gate_rows(report)),
        "<h2>Elementwise work per inference</h2>", _table("elementwise", list(ew), [[rep.fmt_int(v) for v in ew.values()]]),
        "<h2>Storage</h2>",
        f"<p>Weights {rep.fmt_bytes(wb['weight_bytes'])}, biases {rep.fmt_bytes(wb['bias_bytes'])}, quantization "
        f"parameters {rep.fmt_bytes(wb['qparam_bytes'])}; activations {rep.fmt_bytes(tot['activation_bytes'])}, "
        f"state {rep.fmt_bytes(tot['state_bytes'])}, scratch {rep.fmt_bytes(tot['scratch_bytes'])}.</p>",
        "<h2>Latency vs sequence length</h2>", _img("plot-seqlen", plots["seqlen"], "latency vs sequence length"),
        # Lets a headless browser check (``--dump-dom``) that every plot decoded: body[data-plots-loaded].
        "<script>window.addEventListener('load',function(){document.body.setAttribute('data-plots-loaded',"
        "Array.prototype.filter.call(document.images,function(i){return i.naturalWidth>0;}).length);});</script>",
        "</body></html>",
    ]
    return "\n".join(parts)

"""``edgelstm profile``: exact counts, latency, energy and fit of a model on one or more targets."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..convert.command import seq_len_type
from ..errors import DataError, TargetError
from .counts import QUANTS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "profile", help="count MACs/memory per layer and gate; latency, energy and fit per target",
        description="Count the exact work of a recurrent model (per layer, gate, timestep and inference), estimate "
                    "latency and energy on target profiles (profiles/*.toml or your own chip.toml) and check that it "
                    "fits flash and RAM. Writes report.json, report.md, report.html and PNG plots to -o DIR.")
    p.add_argument("model", nargs="?", help=".keras / .h5 file, or a spec such as lstm:16,dense:4@100/6")
    p.add_argument("--demo", choices=("lstm", "gru"), help="profile the bundled BasicMotions demo model")
    p.add_argument("--target", default="cortex-m4",
                   help="comma list of profile names (cortex-m0plus,cortex-m3,cortex-m4,cortex-m7,cortex-m33,"
                        "cortex-m55,host), 'all', or path/to/chip.toml (default cortex-m4)")
    p.add_argument("--quant", choices=QUANTS, default="int8", help="storage/compute type (default int8)")
    p.add_argument("--seq-len", type=seq_len_type, help="timesteps per inference (default: the model's)")
    p.add_argument("-o", "--out", default="report", help="output folder (default report/)")
    p.add_argument("--json", action="store_true", help="print the report object as JSON on stdout")
    p.add_argument("--strict", action="store_true", help="exit with an error if the model does not fit a target")
    p.add_argument("--calibrated", action="store_true",
                   help="use instructions per MAC measured by `edgelstm run` (profile [calibration]) when present")
    p.add_argument("--export", metavar="DIR",
                   help="with --calibrated: an int8 export folder of this model (edgelstm export --build); its LSTM "
                        "requantization modes and model flash refine the per-kernel prediction")
    p.add_argument("--no-files", action="store_true", help="do not write the report folder")
    p.set_defaults(func=run)


def build_report_files(report: dict[str, Any], desc: Any, out_dir: str | Path) -> dict[str, Path]:
    """Plots (PNG files + embedded) and report.json/.md/.html in out_dir."""
    from . import html, plots, profile
    from .report import write_reports

    def latency_at(T: int) -> dict[str, float]:
        r = profile(desc, [str(p) for p in report["target_files"].values()], report["quant"], seq_len=T,
                    calibrated=any(t["calibrated"] for t in report["targets"].values()), export=report.get("export"))
        return {n: t["latency_us"] for n, t in r["targets"].items()}

    pngs = {"gates": plots.macs_per_gate(report), "targets": plots.targets_bars(report),
            "seqlen": plots.latency_vs_seq_len(report, latency_at)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"png_" + k: out / f"{k}.png" for k in pngs}
    for k, data in pngs.items():
        files["png_" + k].write_bytes(data)
    files.update(write_reports(report, out, html.render(report, pngs)))
    return files


def run(args: argparse.Namespace) -> int:
    from ..progress import Progress
    from . import profile
    from .report import summary_text, to_json

    if not args.no_files:
        from ..outdir import check_writable

        check_writable(args.out)  # before the work, not after it
    with Progress(3, "profile", enabled=not args.json) as bar:
        if args.demo:
            from ..load import demo_model

            loaded = demo_model(args.demo)
        elif args.model:
            from ..errors import ModelError
            from ..load import load_model

            try:
                loaded = load_model(args.model, seq_len=args.seq_len)
            except ModelError as exc:
                # A fixed-length model profiled at another T ("what if"): counts hold for any T.
                if args.seq_len is None or "conflicts with" not in str(exc):
                    raise
                loaded = load_model(args.model)
        else:
            raise DataError("no model given: pass a .keras/.h5 file, a spec like lstm:16,dense:4, or --demo lstm")
        bar.step("loaded")
        desc = loaded.desc if args.seq_len is None else loaded.desc.with_seq_len(args.seq_len)
        if args.export and not args.calibrated:
            raise DataError("--export refines the calibrated per-kernel prediction; add --calibrated")
        report = profile(desc, args.target, args.quant, calibrated=args.calibrated, export=args.export)
        bar.step("counted")
        files = {} if args.no_files else build_report_files(report, desc, args.out)
        bar.step("written")
    if args.json:
        print(to_json(report))
    else:
        print(summary_text(report))
        for n in report["notes"]:
            if n.startswith("Masking"):
                print(f"note: {n}")
        if files:
            print(f"\nreport: {files['html']}  ({files['md'].name}, {files['json'].name}, plots *.png)")
    for w in report["warnings"]:
        if "over budget" not in w or args.json:
            print(f"warning: {w}", file=sys.stderr)
    misfits = [n for n, t in report["targets"].items() if not t["fits"]]
    if args.strict and misfits:
        raise TargetError(f"the model does not fit {', '.join(misfits)} (see the warnings above); pick a larger "
                          "target, int8, fewer units or a shorter sequence, or drop --strict")
    return 0

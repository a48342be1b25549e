"""Cross-compile an export for its target and measure flash and RAM, model and runtime apart."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import procs
from ..errors import TargetError
from .toolchain import compile_objects, section_sizes, with_opt

def _advice(what: str, quant: str) -> str:
    smaller = "fewer units" + (", or --quant int8" if quant != "int8" else "")
    return f"pick a target with more {what} (e.g. --target cortex-m4) or a smaller model ({smaller})"


def check_weights_fit(desc: Any, quant: str, target: Any) -> None:
    """Before converting: the model's weight arrays alone (a lower bound of its flash) must fit."""
    from ..profile.counts import count_model

    weights = int(count_model(desc, quant)["totals"]["weight_bytes_by_type"]["weight_bytes"])
    if weights > target.flash_bytes:
        raise TargetError(f"model '{desc.name}' does not fit {target.name}: its {quant} weights alone take "
                          f"{weights:,} B of flash, the target has {target.flash_bytes:,} B; "
                          f"{_advice('flash', quant)}, or pass --allow-oversize to export it anyway")


def misfits(build: dict, target: Any) -> list[str]:
    """What of a build does not fit the target's flash and RAM, as sentences."""
    f, r = build["flash_bytes"], build["ram_bytes"]
    out = []
    if f["total"] > target.flash_bytes:
        out.append(f"the export needs {f['total']:,} B of flash (model {f['model']:,} B + runtime {f['runtime']:,} B) "
                   f"but {target.name} has {target.flash_bytes:,} B")
    if r["total"] > target.sram_bytes:
        out.append(f"the export needs {r['total']:,} B of RAM (state {r['state']:,} B + scratch "
                   f"{r.get('scratch', 0):,} B + static {r['static']:,} B) "
                   f"but {target.name} has {target.sram_bytes:,} B")
    return out


def build_sizes(export_dir: Path, info: dict, target: Any, allow_oversize: bool = False) -> dict:
    """Compile every source of the export with the target's flags (-O2, -Werror) and sum sections.

    flash = text + rodata, ram = data + bss of the objects; the model's state struct and its scratch
    (caller-owned, usually statics) are counted in ram as state and scratch. A build that does not fit the target's flash
    or RAM raises TargetError, or with allow_oversize is recorded under "warnings"."""
    host = target.name == "host"
    cflags = list(target.toolchain.get("cflags", []))
    if not host and not cflags:
        raise TargetError(f"profile {target.name} has no [toolchain] cflags; add them (see profiles/cortex-m4.toml)")
    name = info["name"]
    model_srcs = [export_dir / f"{name}_model.c"]
    runtime_srcs = [export_dir / s for s in info["files"]["runtime"]]
    incs = [export_dir, export_dir / "runtime" / "include"]
    with procs.temp_dir("edgelstm-build-") as tmp:
        m = compile_objects(model_srcs, incs, cflags, Path(tmp) / "model", host)
        r = compile_objects(runtime_srcs, incs, cflags, Path(tmp) / "runtime", host)
        arr = compile_objects([export_dir / f"{name}_model_data.c"], incs, cflags, Path(tmp) / "data", host)
        model, runtime, tfl = _sum(m, host), _sum(r, host), _sum(arr, host)
    state = int(info["memory"]["state_struct_bytes"])
    scratch = int(info["memory"].get("scratch_bytes", 0))
    build = {
        "target": target.name, "compiler": "gcc" if host else "arm-none-eabi-gcc", "cflags": with_opt(cflags),
        "flash_bytes": {"model": model["text"] + model["rodata"], "runtime": runtime["text"] + runtime["rodata"],
                        "total": model["text"] + model["rodata"] + runtime["text"] + runtime["rodata"]},
        "ram_bytes": {"state": state, "scratch": scratch,
                      "static": model["data"] + model["bss"] + runtime["data"] + runtime["bss"],
                      "total": state + scratch + model["data"] + model["bss"] + runtime["data"] + runtime["bss"]},
        "tflite_array_bytes": tfl["rodata"] + tfl["data"],
        "sections": {"model": model, "runtime": runtime},
        "budget_bytes": {"flash": target.flash_bytes, "ram": target.sram_bytes},
    }
    problems = misfits(build, target)
    if problems and not allow_oversize:
        what = "flash" if "flash" in problems[0] else "RAM"
        raise TargetError(f"{'; '.join(problems)}; {_advice(what, info['quant'])}, or pass --allow-oversize to "
                          "export it anyway")
    build["fits"] = not problems
    build["warnings"] = [f"{p} (exported anyway: --allow-oversize)" for p in problems]
    return build


def _sum(objs: list[Path], host: bool) -> dict[str, int]:
    total = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for o in objs:
        for k, v in section_sizes(o, host).items():
            total[k] += v
    return total

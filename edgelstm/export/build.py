"""Cross-compile an export for its target and measure flash and RAM, model and runtime apart."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .toolchain import compile_objects, section_sizes, with_opt


def build_sizes(export_dir: Path, info: dict, target: Any) -> dict:
    """Compile every source of the export with the target's flags (-O2, -Werror) and sum sections.

    flash = text + rodata, ram = data + bss of the objects; the model's state struct (caller-owned,
    usually a static) is counted in ram as state_bytes."""
    host = target.name == "host"
    cflags = list(target.toolchain.get("cflags", []))
    if not host and not cflags:
        raise ValueError(f"profile {target.name} has no [toolchain] cflags")
    name = info["name"]
    model_srcs = [export_dir / f"{name}_model.c"]
    runtime_srcs = [export_dir / s for s in info["files"]["runtime"]]
    incs = [export_dir, export_dir / "runtime" / "include"]
    with tempfile.TemporaryDirectory(prefix="edgelstm-build-") as tmp:
        m = compile_objects(model_srcs, incs, cflags, Path(tmp) / "model", host)
        r = compile_objects(runtime_srcs, incs, cflags, Path(tmp) / "runtime", host)
        arr = compile_objects([export_dir / f"{name}_model_data.c"], incs, cflags, Path(tmp) / "data", host)
        model, runtime, tfl = _sum(m, host), _sum(r, host), _sum(arr, host)
    state = int(info["memory"]["state_struct_bytes"])
    return {
        "target": target.name, "compiler": "gcc" if host else "arm-none-eabi-gcc", "cflags": with_opt(cflags),
        "flash_bytes": {"model": model["text"] + model["rodata"], "runtime": runtime["text"] + runtime["rodata"],
                        "total": model["text"] + model["rodata"] + runtime["text"] + runtime["rodata"]},
        "ram_bytes": {"state": state, "static": model["data"] + model["bss"] + runtime["data"] + runtime["bss"],
                      "total": state + model["data"] + model["bss"] + runtime["data"] + runtime["bss"]},
        "tflite_array_bytes": tfl["rodata"] + tfl["data"],
        "sections": {"model": model, "runtime": runtime},
    }


def _sum(objs: list[Path], host: bool) -> dict[str, int]:
    total = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for o in objs:
        for k, v in section_sizes(o, host).items():
            total[k] += v
    return total

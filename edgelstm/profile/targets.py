"""Target profiles: ``profiles/<name>.toml`` (or a user's own file), loaded and validated with tomllib.

A profile holds every figure the estimate uses (clock, memory sizes, cycles per
MAC and per elementwise op class by data type, energy per cycle and per
operation), each with its source in a comment; nothing chip-specific lives in
code. ``[calibration]`` is written by ``edgelstm run`` from measured
instruction counts (see ``write_calibration``); ``[toolchain]`` is read by the C
export and the QEMU runner.
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TargetError
from ..export.toolchain import data_dir as _data_dir

PROFILES_DIR = _data_dir("profiles")  # the repository's, or the installed package's copy
CYCLE_DTYPES = ("int8", "int16", "float32")
CYCLE_KEYS = ("mac", "bias_add", "gate_add", "add", "sub", "mul", "sigmoid", "tanh", "softmax", "relu",
              "overhead_per_layer_step")
ENERGY_KEYS = ("int8_add", "int8_mult", "int32_add", "int32_mult", "fp16_add", "fp16_mult", "fp32_add", "fp32_mult",
               "sram_read_32bit")


@dataclass(frozen=True)
class Target:
    name: str
    path: Path
    description: str
    clock_mhz: float
    flash_bytes: int
    sram_bytes: int
    ua_per_mhz: float
    supply_v: float
    power_verified: bool
    cycles: dict[str, dict[str, float]]
    energy_pj: dict[str, float]
    runtime_flash_bytes: int
    runtime_ram_bytes: int
    toolchain: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    chip: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def pj_per_cycle(self) -> float:
        """(uA/MHz) x V = pJ per cycle: 1 uA/MHz is 1e-12 C per cycle."""
        return self.ua_per_mhz * self.supply_v

    @property
    def calibrated_instructions_per_mac(self) -> float | None:
        v = self.calibration.get("instructions_per_mac") or 0
        return float(v) if v > 0 else None


#: Display order of the bundled profiles (smallest core first); other files follow alphabetically.
ORDER = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "host")


def available() -> list[str]:
    names = [p.stem for p in PROFILES_DIR.glob("*.toml")]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def resolve_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or "/" in name_or_path:
        if not p.is_file():
            raise TargetError(f"target file not found: {p}; copy one of {PROFILES_DIR}/*.toml and edit it")
        return p
    p = PROFILES_DIR / f"{name_or_path}.toml"
    if not p.is_file():
        raise TargetError(f"unknown target '{name_or_path}'; choose from {', '.join(available())} "
                          "or pass path/to/chip.toml")
    return p


def _get(data: dict, dotted: str, path: Path, kind: type | tuple[type, ...] = (int, float),
         positive: bool = True) -> Any:
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise TargetError(f"{path.name}: missing key '{dotted}'; add it (see profiles/cortex-m4.toml)")
        cur = cur[part]
    if isinstance(cur, bool) and kind != bool:
        raise TargetError(f"{path.name}: key '{dotted}' must be a number, got {cur!r}")
    if not isinstance(cur, kind):
        raise TargetError(f"{path.name}: key '{dotted}' has the wrong type ({type(cur).__name__}: {cur!r}); fix it")
    if positive and isinstance(cur, (int, float)) and not cur > 0:
        raise TargetError(f"{path.name}: key '{dotted}' must be > 0, got {cur}")
    return cur


def load_target(name_or_path: str) -> Target:
    """Load and validate one profile; any missing or invalid key raises TargetError naming it."""
    path = resolve_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path.name} is not valid TOML ({exc}); fix the syntax") from None
    cycles: dict[str, dict[str, float]] = {}
    for dt in CYCLE_DTYPES:
        cycles[dt] = {k: float(_get(data, f"cycles.{dt}.{k}", path, positive=k == "mac")) for k in CYCLE_KEYS}
        for k, v in cycles[dt].items():
            if v < 0:
                raise TargetError(f"{path.name}: key 'cycles.{dt}.{k}' must be >= 0, got {v:g}")
    energy = {k: float(_get(data, f"energy_pj.{k}", path)) for k in ENERGY_KEYS}
    cal = data.get("calibration", {})
    if not isinstance(cal, dict):
        raise TargetError(f"{path.name}: [calibration] must be a table")
    ipm = cal.get("instructions_per_mac", 0)
    if isinstance(ipm, bool) or not isinstance(ipm, (int, float)) or ipm < 0:
        raise TargetError(f"{path.name}: key 'calibration.instructions_per_mac' must be a number >= 0 (0 = not "
                          f"calibrated), got {ipm!r}")
    if ipm:
        _get(data, "calibration.cycles_per_instruction", path)
    return Target(
        name=str(_get(data, "name", path, str, positive=False)), path=path,
        description=str(data.get("description", "")),
        clock_mhz=float(_get(data, "chip.clock_mhz", path)),
        flash_bytes=int(_get(data, "chip.flash_kb", path) * 1024),
        sram_bytes=int(_get(data, "chip.sram_kb", path) * 1024),
        ua_per_mhz=float(_get(data, "power.ua_per_mhz", path)),
        supply_v=float(_get(data, "power.supply_v", path)),
        power_verified=bool(_get(data, "power.verified", path, bool, positive=False)),
        cycles=cycles, energy_pj=energy,
        runtime_flash_bytes=int(_get(data, "runtime.flash_bytes", path, int, positive=False)),
        runtime_ram_bytes=int(_get(data, "runtime.ram_bytes", path, int, positive=False)),
        toolchain=dict(data.get("toolchain", {})), calibration=dict(cal),
        chip=str(data.get("chip", {}).get("name", "")),
        sources={k: str(v.get("source", "")) for k, v in data.items() if isinstance(v, dict) and "source" in v},
    )


def load_targets(spec: str | list[str]) -> list[Target]:
    """``"cortex-m4,cortex-m7"``, ``"all"`` or a list of names / .toml paths."""
    names = spec if isinstance(spec, list) else [s.strip() for s in spec.split(",") if s.strip()]
    if names == ["all"]:
        names = available()
    if not names:
        raise TargetError(f"no target given; pass --target with one of {', '.join(available())}")
    return [load_target(n) for n in names]


_CAL_SECTION = re.compile(r"^\[calibration\][^\[]*", re.M)


def write_calibration(name_or_path: str, instructions_per_mac: float, source: str,
                      cycles_per_instruction: float | None = None) -> Path:
    """Replace the profile's [calibration] table (used by ``edgelstm run`` after measuring)."""
    path = resolve_path(name_or_path)
    if not instructions_per_mac > 0:
        raise TargetError(f"instructions_per_mac must be > 0, got {instructions_per_mac}")
    text = path.read_text()
    old = tomllib.loads(text).get("calibration", {})
    cpi = cycles_per_instruction if cycles_per_instruction is not None else old.get("cycles_per_instruction", 1.0)
    block = ("[calibration]\n"
             "# Written by edgelstm run from instruction counts measured in QEMU (-icount).\n"
             f"instructions_per_mac = {float(instructions_per_mac)!r}\n"
             f"cycles_per_instruction = {float(cpi)!r}\n"
             f"source = {json.dumps(source)}\n\n")
    text = _CAL_SECTION.sub(lambda _m: block, text, count=1) if _CAL_SECTION.search(text) else text + "\n" + block
    tomllib.loads(text)  # never write a broken file
    path.write_text(text)
    return path

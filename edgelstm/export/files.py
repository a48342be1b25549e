"""The files of an export folder besides the model code: the .tflite as a C array and the runtime
sources the model calls (build-system files: packaging.py)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from . import kernels as kernel_table
from .toolchain import RUNTIME



def tflite_array(prefix: str, data: bytes, banner: str) -> tuple[str, str]:
    """<prefix>_model_data.h/.c: the flatbuffer, 16-byte aligned (TFLite Micro reads it in place)."""
    P = prefix.upper()
    header = (f"{banner}#ifndef {P}_MODEL_DATA_H\n#define {P}_MODEL_DATA_H\n\n"
              "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
              f"/* The .tflite flatbuffer for TFLite Micro: tflite::GetModel({prefix}_model_data). */\n"
              f"#define {P}_MODEL_DATA_LEN {len(data)}\n"
              f"extern const unsigned char {prefix}_model_data[{P}_MODEL_DATA_LEN];\n\n"
              "#ifdef __cplusplus\n}\n#endif\n\n#endif\n")
    rows = [", ".join(f"0x{b:02x}" for b in data[i:i + 16]) for i in range(0, len(data), 16)]
    source = (f"{banner}#include \"{prefix}_model_data.h\"\n\n"
              f"/* 16-byte aligned (TFLite Micro reads it in place); override with -D{P}_MODEL_DATA_ATTR=... */\n"
              f"#ifndef {P}_MODEL_DATA_ATTR\n#if defined(__GNUC__) || defined(__clang__)\n"
              f"#define {P}_MODEL_DATA_ATTR __attribute__((aligned(16)))\n#else\n#define {P}_MODEL_DATA_ATTR\n#endif\n"
              "#endif\n\n"
              f"const unsigned char {prefix}_model_data[{P}_MODEL_DATA_LEN] {P}_MODEL_DATA_ATTR = {{\n"
              + "\n".join(f"    {r}," for r in rows) + "\n};\n")
    return header, source


def runtime_sources(kernels: Iterable[str]) -> list[Path]:
    """Runtime .c files of these kernels and what they need (export/kernels.py KERNELS)."""
    return [RUNTIME / "src" / f for f in kernel_table.sources(set(kernels))]


def copy_runtime(dest: Path, sources: list[Path]) -> list[str]:
    (dest / "runtime" / "src").mkdir(parents=True, exist_ok=True)
    shutil.copytree(RUNTIME / "include", dest / "runtime" / "include", dirs_exist_ok=True)
    for s in sources:
        shutil.copy2(s, dest / "runtime" / "src" / s.name)
    return [f"runtime/src/{s.name}" for s in sources]

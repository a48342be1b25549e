"""C source formatting: identifiers that are valid and not reserved, constant arrays."""
from __future__ import annotations

import re

import numpy as np

C_RESERVED = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long
register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Bool _Complex _Imaginary bool true false main NULL errno assert int8_t int16_t int32_t int64_t uint8_t uint32_t
""".split())

CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t", "float32": "float",
          "uint8": "uint8_t"}


def c_identifier(text: str) -> str:
    """A valid C identifier from any name: other characters become '_', a leading digit gets 'm'."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", text).strip("_") or "model"
    s = re.sub(r"_+", "_", s)
    if s[0].isdigit():
        s = "m" + s
    if s in C_RESERVED:
        s += "_"
    return s


def c_values(values: np.ndarray, per_line: int = 16) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind == "f":
        items = [_c_float(float(v)) for v in flat]
        per_line = 6
    else:
        items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "\n".join("    " + ln + "," for ln in lines)


def _c_float(v: float) -> str:
    if np.isnan(v) or np.isinf(v):
        raise ValueError("non-finite constant in the model")
    return repr(float(np.float32(v))) + "f" if v != 0 else "0.0f"


def c_array(name: str, values: np.ndarray, comment: str, dtype: str | None = None, align: int = 0) -> str:
    arr = np.asarray(values)
    ctype = CTYPES[dtype or arr.dtype.name]
    # EL_MODEL_ALIGN / EL_MODEL_SECTION: <P>_ALIGN(n) and <P>_WEIGHTS_SECTION of the model header (overridable)
    attr = (f" EL_MODEL_ALIGN({align})" if align else "") + " EL_MODEL_SECTION"
    return f"/* {comment} */\nstatic const {ctype} {name}[{max(arr.size, 1)}]{attr} = {{\n{c_values(arr) if arr.size else '    0,'}\n}};\n"


def c_struct(ctype: str, name: str, fields: list[tuple[str, object]], comment: str = "") -> str:
    """A constant parameter struct with designated initializers: .field = value (value a C expression;
    a tuple (value, comment) puts the comment at the end of the line)."""
    lines = [f"/* {comment} */"] if comment else []
    lines.append(f"static const {ctype} {name} EL_MODEL_SECTION = {{")
    for field, value in fields:
        note = ""
        if isinstance(value, tuple):
            value, note = value
            note = f" /* {note} */"
        lines.append(f"    .{field} = {value},{note}")
    return "\n".join(lines) + "\n};\n"

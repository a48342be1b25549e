"""The terminal table of a manifest: one row per artifact and interpreter."""
from __future__ import annotations

from .api import Manifest


def render(manifest: Manifest) -> str:
    head = ("artifact", "size", "engine", "max abs err", "rmse", "cosine", "acc", "LSB", "verdict")
    rows = []
    for a in manifest.artifacts:
        name = a["path"].rsplit("/", 1)[-1]
        for engine, m in a["metrics"].items():
            if not isinstance(m, dict):
                continue
            if not m.get("supported", True):
                rows.append((name, _kb(a["size_bytes"]), engine, "n/a: " + m["reason"][:40], "", "", "", "", ""))
                continue
            rows.append((name, _kb(a["size_bytes"]), engine, f"{m['max_abs_error']:.2e}", f"{m['rmse']:.2e}",
                         f"{m['cosine_similarity']:.5f}", f"{m['accuracy']:.2f}" if "accuracy" in m else "",
                         f"{m['max_abs_error_lsb']:.1f}" if "max_abs_error_lsb" in m else "",
                         a.get("verdict", {}).get("status", "")))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"

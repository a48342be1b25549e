"""profile: exact operation counts of a recurrent model and what they cost on a microcontroller.

    from edgelstm.profile import profile
    report = profile(desc, ["cortex-m4", "cortex-m7"], quant="int8")
    report["totals"]["macs"], report["targets"]["cortex-m4"]["latency_us"]

Counts come from the ModelDesc (``counts``), are cross-checked against converted
graphs (``graph_count``), and are turned into latency/energy/fit per target
profile (``targets``, ``estimate``). ``report``/``html`` write report.json, .md, .html.
"""
from __future__ import annotations

from typing import Any

from ..ir import ModelDesc
from .counts import count_model
from .estimate import estimate
from .targets import Target, load_targets

__all__ = ["profile", "count_model", "load_targets", "Target"]


def profile(desc: ModelDesc, targets: list[str] | str, quant: str = "int8", seq_len: int | None = None,
            calibrated: bool = False, export: str | None = None) -> dict[str, Any]:
    """The report object: counts per layer and gate, totals, and latency/energy/fit per target.

    ``totals.flash_bytes``/``ram_bytes`` are the model's own (weights; activations + state + scratch);
    each target's ``flash_bytes``/``ram_bytes`` add that target's runtime estimate (or, calibrated with
    [calibration.kernels], the kernels' measured flash). ``export``: an export folder of this model whose
    LSTM modes and model flash refine the per-kernel prediction (kernel_costs.from_export).
    """
    if seq_len is not None:
        desc = desc.with_seq_len(int(seq_len))
    counts = count_model(desc, quant)
    loaded = load_targets(targets)
    tot = counts["totals"]
    tot["flash_bytes"] = tot["weight_bytes"]
    tot["ram_bytes"] = tot["model_ram_bytes"]
    facts = None
    if export is not None:
        from .kernel_costs import from_export

        facts = from_export(export)
    results = {t.name: estimate(counts, t, calibrated, facts) for t in loaded}
    warnings = [w for r in results.values() for w in r["warnings"]]
    notes = [n for r in results.values() for n in r["notes"]]
    if desc.mask_value is not None:
        notes.append(f"Masking (mask_value={desc.mask_value:g}): masked steps are skipped at run time, so MACs, "
                     f"time and energy here count all {desc.seq_len} steps - an upper bound; a sequence with k "
                     "unmasked steps costs about k/T of the recurrent part")
    return {**counts, "source": desc.source, "targets": results, "warnings": warnings, "notes": notes,
            "target_files": {t.name: str(t.path) for t in loaded}, "export": export}

"""Markdown tables of bench_diffusion.py's results (the README's figures)."""

from __future__ import annotations

from typing import Any

from diffusion_tools import LABELS, TOOLS, TRUE_D


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _rel(res: dict[str, Any]) -> str:
    text = f"{100 * res['D_rel_diff_to_sse']:+.2f} %"
    return text + f" ({res['D_diff_in_sse_std']:+.2f} std)"


def markdown_table(sizes: list[dict[str, Any]]) -> str:
    head = (
        "| size | tool | D (cm^2/s) | vs sse-flows | reported std | 95 % CI covers "
        "1e-5 | wall s | CPU s | peak RSS MB | wall / sse-flows |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for entry in sizes:
        size = entry["size"]
        label = f"{size['atoms']} x {size['frames']:,}"
        for tool in (t for t in TOOLS if t in entry["tools"]):
            res = entry["tools"][tool]
            if res.get("status") not in ("ok", "estimate"):
                rows.append(f"| {label} | {LABELS[tool]} | {res.get('status')} |||||||")
                continue
            est = res["status"] == "estimate"
            name = LABELS[tool] + (" (estimate)" if est else "")
            if "from_structures_s" in res:
                name += (
                    f": building the Structures {res['build_structures_s']:.1f} s + "
                    f"from_structures {res['from_structures_s']:.1f} s "
                    f"(x{res['from_structures_call_ratio_to_sse']:.1f} sse-flows)"
                )
            covers = res.get("ci_covers_true")
            has_d = "D" in res
            rows.append(
                f"| {label} | {name} | {_fmt(res.get('D'), '.4e')} | "
                f"{_rel(res) if has_d else '-'}"
                f" | {_fmt(res.get('D_std'), '.2e')} | "
                f"{'-' if covers is None else ('yes' if covers else 'no')} | "
                f"{'~' if est else ''}{res['wall_s']:.2f} | {'~' if est else ''}"
                f"{res['cpu_s']:.2f} | {'~' if est else ''}{res['peak_rss_mb']:.0f} | "
                f"{'~' if est else ''}{res['time_ratio_to_sse']:.1f} |"
            )
    return head + "\n".join(rows) + "\n"


def calibration_table(calibration: dict[str, Any]) -> str:
    size = calibration["size"]
    lines = [
        f"{len(calibration['seeds'])} walks of {size['atoms']} atoms ({size['n_li']} Li) x "
        f"{size['frames']:,} frames, true D = {TRUE_D:g} cm^2/s\n",
        "| tool | mean D / true - 1 | observed scatter of D | mean reported std | "
        "reported / observed | 95 % CI coverage | mean 95 % CI width | "
        "rms (D - true) / std | rms (D - D_sse-flows) / std_sse-flows | s per walk |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tool in ("sse", "sse-ols", "pymatgen", "kinisi"):
        res = calibration.get(tool)
        if not res:
            continue
        if res.get("status") != "ok":
            lines.append(f"| {LABELS[tool]} | {res.get('status')} |||||||||")
            continue
        lines.append(
            f"| {LABELS[tool]} | {100 * res['D_mean_rel_err']:+.2f} % | "
            f"{res['D_scatter']:.2e} | {res['mean_reported_std']:.2e} | "
            f"{res['std_ratio']:.3g} | {res['coverage95']:.2f} | "
            f"{_fmt(res.get('mean_ci95_width'), '.2e')} | {res['rms_z']:.3g} | "
            f"{_fmt(res.get('diff_to_sse_in_sse_std_rms'), '.2f')} | "
            f"{res['mean_wall_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"

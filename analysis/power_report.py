"""power.json and its HTML report for the web app's power runs (no Django import).

The payload is the one `python -m analysis power` writes (design, grid, curve) plus `planned`: the
first grid point, the study the coordinator plans, with its power per method and the analytic
paired-t power beside it. The curve figure is an inline SVG (no plotting library at request time).
"""

from __future__ import annotations

import html
import math

METHOD_LABELS = {"glmm": "GLMM likelihood-ratio test", "reader_t": "Reader-level t-test"}
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def power_payload(design: str, grid: list[dict]) -> dict:
    curve = [
        {"n_readers": g["spec"]["n_readers"], "n_cases": g["spec"]["n_cases"], "method": m, **e}
        for g in grid
        for m, e in g["power"].items()
    ]
    first = grid[0]
    planned = {"n_readers": first["spec"]["n_readers"], "n_cases": first["spec"]["n_cases"],
               "n_sim": first["n_sim"], "alpha": first["alpha"], "power": first["power"],
               "paired_t_power": first["paired_t_power"], "reader_difference": first["reader_difference"]}
    return {"design": design, "grid": grid, "curve": curve, "planned": planned}


def _num(value, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def power_curve_svg(curve: list[dict], method: str = "glmm", width: int = 520, height: int = 300) -> str:
    """Power against the number of readers, one line (with its Monte-Carlo 95 % band as bars) per
    number of cases; only numbers are interpolated."""
    rows = [r for r in curve if r["method"] == method] or curve
    readers = sorted({r["n_readers"] for r in rows})
    cases = sorted({r["n_cases"] for r in rows})
    left, right, top, bottom = 48, 120, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = readers[0], readers[-1]

    def x(n: int) -> float:
        return left + (plot_w / 2 if hi == lo else plot_w * (n - lo) / (hi - lo))

    def y(p: float) -> float:
        return top + plot_h * (1 - p)

    parts = [f'<svg class="power-curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="Power against the number of readers">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for p in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        dash = ' stroke-dasharray="4 3"' if p == 0.8 else ""
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#ddd"{dash}/>'
                     f'<text x="{left - 6}" y="{y(p) + 4:.1f}" font-size="11" text-anchor="end">{p:.1f}</text>')
    for n in readers:
        parts.append(f'<text x="{x(n):.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{int(n)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="12" text-anchor="middle">readers</text>')
    for k, n_cases in enumerate(cases):
        colour = _COLOURS[k % len(_COLOURS)]
        line = sorted((r for r in rows if r["n_cases"] == n_cases), key=lambda r: r["n_readers"])
        finite = [r for r in line if r["power"] is not None and math.isfinite(r["power"])]
        points = " ".join(f"{x(r['n_readers']):.1f},{y(r['power']):.1f}" for r in finite)
        if points:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r in finite:
            if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]):
                parts.append(f'<line x1="{x(r["n_readers"]):.1f}" x2="{x(r["n_readers"]):.1f}" '
                             f'y1="{y(r["ci_low"]):.1f}" y2="{y(r["ci_high"]):.1f}" stroke="{colour}"/>')
            parts.append(f'<circle cx="{x(r["n_readers"]):.1f}" cy="{y(r["power"]):.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{top + 14 + 16 * k}" font-size="11" fill="{colour}">'
                     f'{int(n_cases)} cases</text>')
    parts.append("</svg>")
    return "".join(parts)


def power_table_rows(curve: list[dict]) -> list[dict]:
    return [{**r, "label": METHOD_LABELS.get(r["method"], r["method"])} for r in curve]


def power_report(payload: dict) -> str:
    planned = payload["planned"]
    esc = html.escape
    rows = "".join(
        f"<tr><td>{r['n_readers']}</td><td>{r['n_cases']}</td><td>{esc(METHOD_LABELS.get(r['method'], r['method']))}</td>"
        f"<td>{_num(r['power'])}</td><td>{_num(r['ci_low'])} – {_num(r['ci_high'])}</td>"
        f"<td>{r['n_analysed']}</td><td>{r['n_failed']}</td></tr>"
        for r in payload["curve"])
    head = "".join(
        f"<li>{esc(METHOD_LABELS.get(m, m))}: power {_num(e['power'])} (Monte-Carlo 95 % CI "
        f"{_num(e['ci_low'])} – {_num(e['ci_high'])}; {e['n_analysed']} analysed, {e['n_failed']} failed fits)</li>"
        for m, e in planned["power"].items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Power / sample size</title></head><body>"
        '<section id="power">'
        f"<h1>Power / sample size ({esc(payload['design'])} design)</h1>"
        f"<p>Planned study: {planned['n_readers']} readers × {planned['n_cases']} cases, {planned['n_sim']} "
        f"simulated studies from the mixed model, two-sided α = {planned['alpha']}.</p><ul>{head}"
        f"<li>Paired t-test, analytic (statsmodels, mean {_num(planned['reader_difference']['mean'])} and SD "
        f"{_num(planned['reader_difference']['sd'])} of the simulated reader differences): "
        f"{_num(planned['paired_t_power'])}</li></ul>"
        f"<h2>Power curve (GLMM)</h2>{power_curve_svg(payload['curve'])}"
        "<table><thead><tr><th>Readers</th><th>Cases</th><th>Test</th><th>Power</th><th>Monte-Carlo 95 % CI</th>"
        f"<th>Analysed</th><th>Failed</th></tr></thead><tbody>{rows}</tbody></table></section></body></html>"
    )

"""Hand-written SVG charts: grouped bars (median per scenario and tool) and scaling lines.

A log scale is used when the values span more than a factor of 30, so a 4 ms no-op and a 60 s
cold install fit one chart; every bar carries its value as text, so nothing is read off an
axis. Output is plain SVG 1.1 with no script or external reference.
"""

from __future__ import annotations

import math
from html import escape

COLORS = {"dx (mount)": "#1f6feb", "dx --materialize": "#6cb6ff", "bun": "#e0a13a", "pnpm": "#f26522",
          "npm": "#c12127"}
FALLBACK = ("#6e40c9", "#2da44e", "#8c959f", "#bf8700")


def color(series: str, i: int) -> str:
    """A stable colour per tool."""
    return COLORS.get(series, FALLBACK[i % len(FALLBACK)])


def fmt_seconds(v: float) -> str:
    """1.23 s, 45.6 ms."""
    if v >= 10:
        return f"{v:.1f} s"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 0.01:
        return f"{v * 1000:.0f} ms"
    return f"{v * 1000:.1f} ms"


class _Scale:
    """Maps values to pixel heights, linear or log10."""

    def __init__(self, values: list[float], height: float, log: bool | None = None):
        pos = [v for v in values if v and v > 0] or [1.0]
        self.lo, self.hi = min(pos), max(pos)
        self.log = self.hi / self.lo > 30 if log is None else log
        self.height = height
        if self.log:
            self.a = math.floor(math.log10(self.lo))
            self.b = math.ceil(math.log10(self.hi))
            if self.b == self.a:
                self.b += 1
        else:
            self.a, self.b = 0.0, self.hi * 1.1

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, 10 ** self.a)
            return (math.log10(v) - self.a) / (self.b - self.a) * self.height
        return v / self.b * self.height

    def ticks(self) -> list[float]:
        """Gridline values: powers of ten (log) or 4 to 6 round steps (linear)."""
        if self.log:
            return [10.0 ** e for e in range(int(self.a), int(self.b) + 1)]
        step = 10 ** math.floor(math.log10(self.b / 4)) if self.b > 0 else 1
        while self.b / step > 6:
            step *= 2
        return [i * step for i in range(int(self.b / step) + 1)]


def _header(width: int, height: int, title: str, subtitle: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="16" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="16" y="42" fill="#57606a">{escape(subtitle)}</text>',
    ]


def _legend(series: list[str], x: float, y: float) -> list[str]:
    out = []
    for i, s in enumerate(series):
        out.append(f'<rect x="{x}" y="{y + i * 18}" width="12" height="12" fill="{color(s, i)}"/>')
        out.append(f'<text x="{x + 18}" y="{y + i * 18 + 10}">{escape(s)}</text>')
    return out


def bar_chart(title: str, groups: list[str], series: list[str], values: dict[tuple[str, str], float | None],
              subtitle: str = "median wall time, lower is better") -> str:
    """Grouped bars: one group per scenario, one bar per tool; missing values are left out."""
    bar_w, gap = 22, 26
    group_w = max(len(series) * bar_w + gap, 104)
    left, top, plot_h = 70, 60, 300
    width = max(640, left + len(groups) * group_w + 220)
    height = top + plot_h + 90
    scale = _Scale([v for v in values.values() if v], plot_h)
    out = _header(width, height, title, subtitle + (" (log scale)" if scale.log else ""))
    base_y = top + plot_h
    for t in scale.ticks():
        y = base_y - scale(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + len(groups) * group_w}" y2="{y:.1f}" '
                   'stroke="#d0d7de" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{fmt_seconds(t)}</text>')
    for gi, g in enumerate(groups):
        gx = left + gi * group_w + (group_w - len(series) * bar_w) / 2
        for si, s in enumerate(series):
            v = values.get((g, s))
            x = gx + si * bar_w
            if v is None:
                out.append(f'<text x="{x + bar_w / 2:.1f}" y="{base_y - 4}" text-anchor="middle" '
                           'fill="#8c959f" font-size="9">n/a</text>')
                continue
            h = max(scale(v), 1.0)
            out.append(f'<rect x="{x:.1f}" y="{base_y - h:.1f}" width="{bar_w - 3}" height="{h:.1f}" '
                       f'fill="{color(s, si)}"><title>{escape(s)} · {escape(g)}: {fmt_seconds(v)}</title></rect>')
            ty = base_y - h - 4
            out.append(f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{ty:.1f}" font-size="9" text-anchor="start" '
                       f'transform="rotate(-60 {x + (bar_w - 3) / 2:.1f} {ty:.1f})">{fmt_seconds(v)}</text>')
        out.append(f'<text x="{gx + len(series) * bar_w / 2:.1f}" y="{base_y + 18}" text-anchor="middle">'
                   f'{escape(g)}</text>')
    out.append(f'<line x1="{left}" y1="{base_y}" x2="{left + len(groups) * group_w}" y2="{base_y}" stroke="#24292f"/>')
    out += _legend(series, left + len(groups) * group_w + 20, top + 10)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def line_chart(title: str, xs: list[tuple[str, float]], series: list[str],
               values: dict[tuple[float, str], float | None], subtitle: str) -> str:
    """Lines per tool over package count (log-log): how a scenario's cost grows."""
    left, top, plot_w, plot_h = 70, 60, 420, 260
    width, height = left + plot_w + 220, top + plot_h + 70
    xscale = _Scale([x for _, x in xs], plot_w, log=True)
    yscale = _Scale([v for v in values.values() if v], plot_h)
    out = _header(width, height, title, subtitle + (" (log-log)" if yscale.log else " (log x)"))
    base_y = top + plot_h
    for t in yscale.ticks():
        y = base_y - yscale(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#d0d7de"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{fmt_seconds(t)}</text>')
    for name, x in xs:
        px = left + xscale(x)
        out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{base_y}" stroke="#eaeef2"/>')
        out.append(f'<text x="{px:.1f}" y="{base_y + 16}" text-anchor="middle">{escape(name)}</text>')
        out.append(f'<text x="{px:.1f}" y="{base_y + 30}" text-anchor="middle" fill="#57606a">{x:,.0f} pkgs</text>')
    for si, s in enumerate(series):
        pts = [(left + xscale(x), base_y - yscale(values[(x, s)])) for _, x in xs if values.get((x, s))]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color(s, si)}" stroke-width="2"/>')
        for px, py in pts:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color(s, si)}"/>')
    out.append(f'<line x1="{left}" y1="{base_y}" x2="{left + plot_w}" y2="{base_y}" stroke="#24292f"/>')
    out += _legend(series, left + plot_w + 20, top + 10)
    out.append("</svg>")
    return "\n".join(out) + "\n"

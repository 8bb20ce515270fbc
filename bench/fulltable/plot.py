#!/usr/bin/env python3
"""Draws the full-table fill of both runs as an SVG: prefixes in the FIB with
both nexthops over time (top), and routes entering the FIB per second
(bottom), from the first UPDATE.

    plot.py OUT.svg N kernel.txt T0 router.txt T0
"""
import sys

W, H, PAD = 720, 440, 50
COLORS = {"kernel": "#1f77b4", "router": "#d62728"}


def series(path, t0):
    pts = []
    for line in open(path):
        if line.startswith("#"):
            continue
        t, routes, multi = line.split()
        pts.append((float(t) - t0, int(routes), int(multi)))
    return [p for p in pts if p[0] >= -0.5]


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    runs = {"kernel": series(sys.argv[3], float(sys.argv[4])), "router": series(sys.argv[5], float(sys.argv[6]))}
    tmax = max(max((p[0] for p in pts if p[2] < n), default=1) for pts in runs.values()) * 1.1 + 1
    rates = {}
    for k, pts in runs.items():
        r = []
        for a, b in zip(pts, pts[1:]):
            if b[0] > a[0]:
                r.append((b[0], max(0, b[1] - a[1]) / (b[0] - a[0])))
        rates[k] = r
    rmax = max((v for r in rates.values() for _, v in r), default=1) * 1.1 or 1
    top, bot = (PAD, H / 2 - 20), (H / 2 + 20, H - PAD)

    def x(t):
        return PAD + (W - 2 * PAD) * min(max(t, 0), tmax) / tmax

    def y(v, vmax, band):
        return band[1] - (band[1] - band[0]) * v / vmax

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for band, label, vmax in ((top, f"prefixes with both nexthops (of {n:,})", n), (bot, f"routes into the FIB per second (max {rmax / 1.1:,.0f})", rmax)):
        svg.append(f'<line x1="{PAD}" y1="{band[1]}" x2="{W - PAD}" y2="{band[1]}" stroke="black"/>')
        svg.append(f'<line x1="{PAD}" y1="{band[0]}" x2="{PAD}" y2="{band[1]}" stroke="black"/>')
        svg.append(f'<text x="{PAD + 4}" y="{band[0] - 4}">{label}</text>')
    for i in range(6):
        t = tmax * i / 5
        svg.append(f'<text x="{x(t) - 8:.0f}" y="{H - PAD + 14}">{t:.0f} s</text>')
    for k, pts in runs.items():
        c = COLORS[k]
        svg.append(f'<polyline fill="none" stroke="{c}" points="' + " ".join(f"{x(t):.1f},{y(m, n, top):.1f}" for t, _, m in pts) + '"/>')
        svg.append(f'<polyline fill="none" stroke="{c}" points="' + " ".join(f"{x(t):.1f},{y(v, rmax, bot):.1f}" for t, v in rates[k]) + '"/>')
    svg.append(f'<text x="{W - PAD - 180}" y="{PAD + 14}" fill="{COLORS["kernel"]}">kernel (zebra alone)</text>')
    svg.append(f'<text x="{W - PAD - 180}" y="{PAD + 28}" fill="{COLORS["router"]}">router (zebra over FPM)</text>')
    svg.append(f'<text x="{W / 2 - 60}" y="{H - 10}">seconds from the first UPDATE</text>')
    svg.append("</svg>")
    open(out, "w").write("\n".join(svg))


if __name__ == "__main__":
    main()

"""Plots bench/scale.rs's table (route p50/p99 against junctions, overlay and A*, log-log).

    cargo bench --no-default-features --bench scale > bench/scale-results.md
    python bench/scale_plot.py bench/scale-results.md bench/scale.png   # needs matplotlib
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = []
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 12 and cells[1].isdigit():
        rows.append((cells[0], int(cells[1]), *map(float, cells[6:10])))
rows.sort(key=lambda r: r[1])
n = [r[1] for r in rows]
fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
for col, label, style in [(2, "overlay p50", "o-"), (3, "overlay p99", "o--"),
                          (4, "A* p50", "s-"), (5, "A* p99", "s--")]:
    ax.plot(n, [r[col] / 1000 for r in rows], style, label=label)
for r in rows:
    ax.annotate(r[0].split("/")[-1], (r[1], r[2] / 1000), fontsize=7,
                textcoords="offset points", xytext=(4, -10))
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("junctions in the graph")
ax.set_ylabel("route time, ms (1 thread, random junction pairs)")
ax.set_title("Meridian: overlay vs plain A* as the map grows")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2])

"""PNG plots of the evaluation (matplotlib, Agg backend: no display, safe in any process)."""

from __future__ import annotations

from pathlib import Path

from evaluation.report import Plot


def render(plot: Plot, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: a headless server has no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    try:
        for series in plot.series:
            if series.style == "points":
                ax.scatter(series.x, series.y, label=series.label, zorder=3, s=36)
            else:
                ax.plot(series.x, series.y, label=series.label, linewidth=1.6)
        if plot.log_x:
            ax.set_xscale("log")
        ax.set_title(plot.title, fontsize=11)
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel)
        ax.set_ylim(0.0, 1.02)
        ax.grid(True, alpha=0.3)
        if plot.series:
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path

"""Bar charts of evaluation results (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from pathlib import Path

from tokfree.errors import TokfreeError


def bar_chart(values: dict[str, dict[str, float]], path: str | Path, *, title: str) -> None:
    """One panel per metric, one bar per tokenizer: `values[metric][tokenizer]`. Saved as PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TokfreeError("plots need matplotlib: pip install matplotlib (or tokfree[dev])") from None
    metrics = list(values)
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.8), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        names = list(values[metric])
        bars = axis.bar(range(len(names)), [values[metric][name] for name in names], color="#4C72B0")
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_title(metric, fontsize=10)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)

"""Plots written as PNG files (matplotlib's Agg backend; no display)."""

from __future__ import annotations

from .atomic import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history, path, title=""):
    """Loss, and error (1 − accuracy) where there is one, per epoch."""
    plt = _pyplot()
    epochs = [record.epoch for record in history]
    has_accuracy = history[0].train_accuracy is not None
    n_panels = 2 if has_accuracy else 1
    figure, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.6))
    axes = list(axes) if n_panels > 1 else [axes]

    axes[0].plot(epochs, [r.train_loss for r in history], label="train")
    if history[0].test_loss is not None:
        axes[0].plot(epochs, [r.test_loss for r in history], label="test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].legend()

    if has_accuracy:
        train_error = [1 - r.train_accuracy for r in history]
        axes[1].plot(epochs, train_error, label="train")
        if history[0].test_accuracy is not None:
            test_error = [1 - r.test_accuracy for r in history]
            axes[1].plot(epochs, test_error, label="test")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("error (1 − accuracy)")
        axes[1].set_ylim(0, 1)
        axes[1].legend()

    if title:
        figure.suptitle(title)
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)

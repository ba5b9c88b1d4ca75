"""Plots written as PNG files (matplotlib's Agg backend; no display)."""

from __future__ import annotations

from .atomic import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history, path, title="", best_epoch=None):
    """Loss, and error (1 − accuracy) where there is one, per epoch.

    Training, validation (when the run had a validation set) and test
    curves share each panel. ``best_epoch``, the epoch whose parameters
    early stopping kept, is marked with a vertical line.
    """
    plt = _pyplot()
    figure = curves_figure(history, title, best_epoch)
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)


def curves_figure(history, title="", best_epoch=None):
    """The matplotlib figure that ``plot_curves`` saves."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    epochs = [record.epoch for record in history]
    has_accuracy = history[0].train_accuracy is not None
    n_panels = 2 if has_accuracy else 1
    figure, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.6))
    axes = list(axes) if n_panels > 1 else [axes]

    # Each part that the history holds, in a fixed colour order.
    parts = [("train", "train")]
    if history[0].validation_loss is not None:
        parts.append(("validation", "validation"))
    if history[0].test_loss is not None:
        parts.append(("test", "test"))

    for prefix, label in parts:
        losses = [getattr(r, f"{prefix}_loss") for r in history]
        axes[0].plot(epochs, losses, label=label)
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")

    if has_accuracy:
        for prefix, label in parts:
            accuracies = [getattr(r, f"{prefix}_accuracy") for r in history]
            if accuracies[0] is not None:
                error = [1 - accuracy for accuracy in accuracies]
                axes[1].plot(epochs, error, label=label)
        axes[1].set_ylabel("error (1 − accuracy)")
        axes[1].set_ylim(0, 1)

    for axis in axes:
        axis.set_xlabel("epoch")
        # Epochs are whole numbers, even on a run of two or three.
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best_epoch is not None:
            axis.axvline(
                best_epoch,
                color="0.4",
                linestyle="--",
                linewidth=1,
                label=f"kept (epoch {best_epoch})",
            )
        axis.legend()

    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure

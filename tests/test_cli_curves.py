"""curves.png: whole-epoch ticks, validation curves, the kept epoch."""

from chainrule.plots import curves_figure, plot_curves
from chainrule.training.loop import EpochRecord


def close(figure):
    # curves_figure has chosen the Agg backend by now.
    import matplotlib.pyplot as plt

    plt.close(figure)


def history(n_epochs, validation=True):
    return [
        EpochRecord(
            epoch=e,
            learning_rate=0.1,
            running_loss=1.0 / e,
            train_loss=1.0 / e,
            test_loss=1.2 / e,
            train_accuracy=0.5 + 0.1 * e,
            test_accuracy=0.4 + 0.1 * e,
            seconds=0.1,
            validation_loss=1.1 / e if validation else None,
            validation_accuracy=0.45 + 0.1 * e if validation else None,
        )
        for e in range(1, n_epochs + 1)
    ]


def test_short_runs_have_whole_epoch_ticks_and_validation_curves():
    figure = curves_figure(history(2), best_epoch=1)
    try:
        for axis in figure.axes:
            ticks = [t for t in axis.get_xticks() if 1 <= t <= 2]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            labels = axis.get_legend_handles_labels()[1]
            assert labels == ["train", "validation", "test", "kept (epoch 1)"]
    finally:
        close(figure)


def test_without_validation_only_train_and_test(tmp_path):
    figure = curves_figure(history(3, validation=False))
    try:
        assert figure.axes[0].get_legend_handles_labels()[1] == ["train", "test"]
    finally:
        close(figure)
    plot_curves(history(3), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"

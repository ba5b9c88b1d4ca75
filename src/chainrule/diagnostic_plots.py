"""Plots for the diagnostics: gradient flow and the initialization study.

PNG files through matplotlib's Agg backend (no display), written
atomically. ``chainrule.plots`` holds the training curves.
"""

from __future__ import annotations

import numpy as np

from .atomic import atomic_write
from .explain.blocks import subscripts_to_unicode as sub
from .plots import _pyplot


def plot_gradient_flow(history, path, title=""):
    """Gradient norm per layer over epochs, and the fraction of dead ReLUs.

    Parameters
    ----------
    history : list of EpochRecord, or list of dict
        Training history whose records carry ``extra["gradient_flow"]``
        (from ``GradientFlowMonitor``), or the monitor's own ``history``
        (a list of those dicts).
    path : str or os.PathLike
        The PNG file to write.
    title : str, optional

    Raises
    ------
    ValueError
        If the history holds no gradient-flow diagnostics.
    """
    records = [_flow_of(record) for record in history]
    records = [record for record in records if record is not None]
    if not records:
        raise ValueError(
            "the history holds no gradient-flow diagnostics; train with "
            "monitor=GradientFlowMonitor(...)"
        )
    plt = _pyplot()
    epochs = [record["epoch"] for record in records]
    omega_norms = np.array([record["grad_omega_norm"] for record in records])
    dead = np.array(
        [
            [np.nan if d is None else d for d in record["dead_fraction"]]
            for record in records
        ],
        dtype=np.float64,
    )
    n_panels = 2 if dead.size and not np.all(np.isnan(dead)) else 1
    figure, axes = plt.subplots(1, n_panels, figsize=(5.5 * n_panels, 3.8))
    axes = list(axes) if n_panels > 1 else [axes]
    colours = plt.get_cmap("viridis")
    n_layers = omega_norms.shape[1]
    for k in range(n_layers):
        colour = colours(k / max(n_layers - 1, 1))
        axes[0].plot(epochs, omega_norms[:, k], color=colour, label=sub(f"Ω_{k}"))
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel(sub("‖∂ℓ/∂Ω_k‖ (mean over steps)"))
    axes[0].set_yscale("log")
    axes[0].legend(fontsize="small", ncol=2 if n_layers > 6 else 1)
    if n_panels == 2:
        for k in range(dead.shape[1]):
            colour = colours((k + 1) / max(n_layers - 1, 1))
            axes[1].plot(epochs, dead[:, k], color=colour, label=sub(f"h_{k + 1}"))
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("fraction of ReLUs never active")
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].legend(fontsize="small")
    for axis in axes:
        axis.xaxis.set_major_locator(_integer_locator())
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path, plt)


def plot_init_study(result, path, title=""):
    """Std of h_k and of ∂ℓ/∂f_k against depth, one line per σ²_Ω.

    Parameters
    ----------
    result : InitStudyResult
    path : str or os.PathLike
        The PNG file to write.
    title : str, optional
    """
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.get_cmap("coolwarm")
    factors = result.factors
    hidden = np.arange(1, result.n_layers + 1)
    pre = np.arange(0, result.n_layers + 1)
    span = max(float(np.max(np.abs(np.log2(factors)))), 1e-12)
    for v, factor in enumerate(factors):
        colour = colours(0.5 + 0.5 * np.log2(factor) / span)
        is_he = np.isclose(factor, 1.0)
        # Matplotlib's mathtext sets σ²_Ω and D_h as the book does.
        label = rf"$\sigma^2_\Omega = {factor:g} \times 2/D_h$"
        label += " (He)" if is_he else ""
        if is_he:
            colour = "black"
        style = {"color": colour, "linewidth": 2.5 if is_he else 1.5}
        axes[0].plot(hidden, _positive(result.h_std[v]), label=label, **style)
        axes[1].plot(pre, _positive(result.dl_df_std[v]), label=label, **style)
    axes[0].set_xlabel("layer k")
    axes[0].set_ylabel(sub("std of h_k"))
    axes[0].set_title("forward: activations")
    axes[1].set_xlabel("layer k")
    axes[1].set_ylabel(sub("std of ∂ℓ/∂f_k"))
    axes[1].set_title("backward: gradients")
    for axis in axes:
        axis.set_yscale("log")
    axes[0].legend(fontsize="small")
    figure.suptitle(
        title
        or f"{result.n_layers} layers of {result.width} units, "
        f"{result.n_examples} examples"
    )
    figure.tight_layout()
    _save(figure, path, plt)


def _flow_of(record):
    extra = record.get("extra", record) if isinstance(record, dict) else record.extra
    flow = extra.get("gradient_flow") if isinstance(extra, dict) else None
    if flow is None and isinstance(record, dict) and "grad_omega_norm" in record:
        flow = record
    if flow is None:
        return None
    epoch = flow.get("epoch")
    if epoch is None:
        epoch = record["epoch"] if isinstance(record, dict) else record.epoch
    return {**flow, "epoch": epoch}


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _positive(values):
    """Non-positive or non-finite values cannot be drawn on a log axis."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def _save(figure, path, plt):
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)

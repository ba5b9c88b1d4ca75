"""An MPI job for tests/test_parallel.py: short data-parallel trainings.

Run as ``mpiexec -n P python -m mpi4py tests/mpi_jobs/train_job.py OUT``.
Every rank trains the same small networks on the same data with
``DataParallelStep``; rank 0 writes the final parameters, the loss
histories and whether every rank's parameters were bit-for-bit equal to
``OUT/result-P.npz``.

``--fail-rank R --fail-how exception|kill|exit`` makes rank R fail in the
middle of the first training, to test that the job ends at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import numpy as np

from chainrule import Network, losses
from chainrule.parallel import (
    DataParallelStep,
    call_or_abort,
    install_excepthook,
    is_root,
    parameters_agree,
    world,
)
from chainrule.training import SGD, train

# name: (loss, dtype, sizes, n_examples, batch_size, epochs)
CONFIGS = {
    # 50 = 7·7 + 1: batches of 7 split unevenly, and the last batch of
    # each epoch has one example, so ranks 1 … P−1 get empty slices.
    "ce64": ("cross-entropy", np.float64, [5, 8, 8, 3], 50, 7, 3),
    # Batches of 3 over 4 ranks: rank 3 always has an empty slice.
    "ls64": ("least-squares", np.float64, [4, 6, 2], 12, 3, 2),
    "ce32": ("cross-entropy", np.float32, [5, 8, 8, 3], 50, 7, 3),
}


def make_data(loss_name, dtype, sizes, n_examples, seed=7):
    """The same inputs and targets on every rank, from a fixed seed."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(sizes[0], n_examples)).astype(dtype)
    if loss_name == "cross-entropy":
        y = rng.integers(0, sizes[-1], size=n_examples)
    else:
        y = rng.normal(size=(sizes[-1], n_examples)).astype(dtype)
    return x, y


def run_config(name, step_factory=None, callback=None):
    """Train one configuration; return (parameters, train-loss history)."""
    loss_name, dtype, sizes, n_examples, batch_size, epochs = CONFIGS[name]
    x, y = make_data(loss_name, dtype, sizes, n_examples)
    loss = {
        "cross-entropy": losses.CrossEntropy(),
        "least-squares": losses.LeastSquares(),
    }[loss_name]
    rng = np.random.default_rng(11)
    network = Network.initialize(sizes, rng, dtype=dtype)
    step = None if step_factory is None else step_factory(network, loss)
    history = train(
        network,
        x,
        y,
        loss,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=0.05,
        optimizer=SGD(momentum=0.9),
        rng=rng,
        callback=callback,
        step=step,
    )
    losses_seen = np.array([record.train_loss for record in history])
    return network, losses_seen


def failing_callback(rank, how):
    """A callback that makes rank ``rank`` fail at the third step."""

    def callback(progress):
        if world().rank != rank or progress.step != 2:
            return
        if how == "exception":
            raise RuntimeError("planned failure for the test")
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "exit":
            sys.exit(3)

    return callback


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--fail-rank", type=int)
    parser.add_argument("--fail-how", choices=["exception", "kill", "exit"])
    args = parser.parse_args()
    install_excepthook()
    size = world().size

    callback = None
    if args.fail_rank is not None:
        callback = failing_callback(args.fail_rank, args.fail_how)
    results = {}
    for name in CONFIGS:
        network, history = run_config(name, DataParallelStep, callback)
        results[f"{name}_parameters"] = network.parameters
        results[f"{name}_history"] = history
        results[f"{name}_agree"] = parameters_agree(network)
    if is_root():
        np.savez(args.out / f"result-{size}.npz", **results)


if __name__ == "__main__":
    if "--guard" in sys.argv:
        sys.argv.remove("--guard")
        call_or_abort(main)
    else:
        main()

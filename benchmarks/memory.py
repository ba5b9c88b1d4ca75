"""Peak resident memory of a training process, chainrule or PyTorch.

Run by ``benchmarks/step.py`` in a fresh process per measurement:

    .venv/bin/python benchmarks/memory.py chainrule [--size L]
    .venv/bin/python benchmarks/memory.py pytorch [--size L]

Both train the same network (float32, SGD with momentum 0.9) on the same
random data (``--batches`` batches) for ``--epochs`` epochs, shuffling
every epoch and evaluating the loss on the training set after each, as a
training run does. chainrule runs ``chainrule.training.train``; PyTorch
runs the usual loop (nn.Sequential, autograd, optim.SGD, evaluation
under ``no_grad``). Each process imports only its own library (the
chainrule process never imports torch).

Prints one JSON line: the peak RSS (VmHWM, the high-water mark of the
process's resident memory; ``ru_maxrss`` alongside, which equals it when
the process is started from a small shell but not from a large parent),
the RSS after the imports, and the RSS after the data and the network
exist.

Two options take chainrule apart, to show where its peak comes from:
``--loop steps`` runs ``TrainingStep`` and the optimizer in a plain loop
(same shuffling) and evaluates with ``evaluate(..., chunk=--eval-chunk)``
(0: no evaluation), instead of ``train``, whose evaluation uses chunks of
4096 examples; ``--optimizer sgd-gradient-scratch`` uses the gradient
buffer as the update's scratch space instead of a buffer of its own (see
``contenders.make_optimizer``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
from contenders import LEARNING_RATES, MOMENTUM, SIZES, make_optimizer


def rss_now_mib():
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib():
    """The peak RSS of this process's own address space (VmHWM).

    ``ru_maxrss`` is reported too, but it cannot serve here: Linux carries
    it across fork and exec, so a child of a large process (the harness)
    reports at least the parent's size at the fork.
    """
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ru_maxrss_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(sizes, n_examples, loss, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n_examples, sizes[0]), dtype=np.float32)
    if loss == "cross-entropy":
        y = rng.integers(0, sizes[-1], n_examples).astype(np.int64)
    else:
        y = rng.standard_normal((n_examples, sizes[-1]), dtype=np.float32)
    return rows, y


def train_chainrule(sizes, rows, y, loss_name, args):
    from chainrule import Network
    from chainrule.losses import get_loss
    from chainrule.training import train

    # The core's columns: x is (D_i, N); labels (N,) or targets (D_o, N).
    x = rows.T
    y = y if loss_name == "cross-entropy" else np.ascontiguousarray(y.T)
    network = Network.initialize(sizes, 0, dtype=np.float32)
    loss = get_loss(loss_name)
    optimizer = make_optimizer(args.optimizer)
    ready = rss_now_mib()
    if args.loop == "steps":
        value = _plain_loop(network, x, y, loss, optimizer, args)
        return ready, value
    history = train(
        network,
        x,
        y,
        loss,
        epochs=args.epochs,
        batch_size=args.batch,
        learning_rate=LEARNING_RATES[loss_name],
        optimizer=optimizer,
        rng=0,
    )
    return ready, history[-1].train_loss


def _plain_loop(network, x, y, loss, optimizer, args):
    """TrainingStep + optimizer, shuffled as ``train`` does; own evaluation."""
    from chainrule.training.loop import evaluate
    from chainrule.training.step import TrainingStep

    step = TrainingStep(network, loss)
    rng = np.random.default_rng(0)
    rows = x.T
    shuffled_rows = np.empty_like(rows)
    shuffled_y = np.empty_like(y)
    n_examples = rows.shape[0]
    value = float("nan")
    for _ in range(args.epochs):
        order = rng.permutation(n_examples)
        np.take(rows, order, axis=0, out=shuffled_rows)
        np.take(y, order, axis=y.ndim - 1, out=shuffled_y)
        for start in range(0, n_examples, args.batch):
            where = slice(start, start + args.batch)
            batch_y = shuffled_y[where] if y.ndim == 1 else shuffled_y[:, where]
            value = step(shuffled_rows[where].T, batch_y)
            optimizer.step(network.parameters, step.gradient, args.learning_rate)
        if args.eval_chunk:
            value, _ = evaluate(network, x, y, loss, chunk=args.eval_chunk)
    return value


def train_pytorch(sizes, rows, y, loss_name, args):
    import torch

    torch.manual_seed(0)
    layers = []
    for k in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=LEARNING_RATES[loss_name], momentum=MOMENTUM
    )
    x = torch.from_numpy(rows)
    y = torch.from_numpy(y)

    def batch_loss(output, target):
        if loss_name == "cross-entropy":
            return torch.nn.functional.cross_entropy(output, target)
        squared = torch.nn.functional.mse_loss(output, target, reduction="sum")
        return squared / output.shape[0]

    ready = rss_now_mib()
    n_examples = x.shape[0]
    generator = torch.Generator().manual_seed(0)
    value = float("nan")
    for _ in range(args.epochs):
        order = torch.randperm(n_examples, generator=generator)
        shuffled_x, shuffled_y = x[order], y[order]
        for start in range(0, n_examples, args.batch):
            stop = start + args.batch
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(model(shuffled_x[start:stop]), shuffled_y[start:stop])
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            total = 0.0
            for start in range(0, n_examples, 4096):
                stop = start + 4096
                part = batch_loss(model(x[start:stop]), y[start:stop])
                total += float(part) * (min(stop, n_examples) - start)
            value = total / n_examples
    return ready, value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", choices=["chainrule", "pytorch"])
    parser.add_argument("--size", default="L", choices=sorted(SIZES))
    parser.add_argument(
        "--loss", default="cross-entropy", choices=["cross-entropy", "least-squares"]
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--loop", choices=["train", "steps"], default="train")
    parser.add_argument("--eval-chunk", type=int, default=4096)
    parser.add_argument(
        "--optimizer", choices=["sgd", "sgd-gradient-scratch"], default="sgd"
    )
    args = parser.parse_args(argv)
    args.learning_rate = LEARNING_RATES[args.loss]

    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")
    if args.library == "pytorch":
        import torch

        if args.threads is not None:
            torch.set_num_threads(args.threads)
    else:
        import chainrule.training  # noqa: F401
    after_imports = rss_now_mib()

    sizes, batch = SIZES[args.size]
    args.batch = batch
    rows, y = make_data(sizes, batch * args.batches, args.loss)
    started = time.perf_counter()
    if args.library == "chainrule":
        ready, value = train_chainrule(sizes, rows, y, args.loss, args)
    else:
        ready, value = train_pytorch(sizes, rows, y, args.loss, args)
    seconds = time.perf_counter() - started
    report = {
        "library": args.library,
        "loop": args.loop if args.library == "chainrule" else "pytorch",
        "optimizer": args.optimizer if args.library == "chainrule" else "optim.SGD",
        "eval_chunk": args.eval_chunk if args.loop == "steps" else 4096,
        "size": args.size,
        "loss": args.loss,
        "steps": args.epochs * args.batches,
        "seconds": round(seconds, 3),
        "rss_after_imports_mib": round(after_imports, 1),
        "rss_with_data_and_network_mib": round(ready, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "ru_maxrss_mib": round(ru_maxrss_mib(), 1),
        "final_loss": value,
        "torch_imported": "torch" in sys.modules,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The implementations a training-step benchmark times, on one problem.

A *problem* is a network size, a batch size, a loss and a fixed data set
of a few batches. Every contender starts from the same initial parameters
and trains on the same batches, cycling through them. Each contender is
a callable ``step(index)`` that runs one training step on batch
``index % n_batches``; scikit-learn, which only runs whole epochs, runs
one epoch per call and says so through ``steps_per_call``.

One training step is the forward pass, the backward pass and the SGD
update with momentum 0.9, in float32, unless the contender's description
says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZES = {
    "S": ([40, 100, 100, 100, 10], 100),
    "M": ([784, 256, 256, 256, 10], 256),
    "L": ([1024, 2048, 2048, 2048, 1024], 1024),
}

LOSSES = ("cross-entropy", "least-squares")

# Small rates keep every contender finite for hundreds of steps on random
# data; the rate does not change the work a step does.
LEARNING_RATES = {"cross-entropy": 1e-3, "least-squares": 1e-4}

MOMENTUM = 0.9


@dataclass
class Problem:
    """One size, one loss, a few batches of random data.

    Attributes
    ----------
    rows : ndarray of shape (N, D_i), float32, C-contiguous
        The inputs in the rows layout; batch b is rows b·B … (b+1)·B − 1,
        and its transpose is the (D_i, B) column batch the core reads.
    labels : ndarray of shape (N,), int64
        Class labels (cross-entropy).
    targets : ndarray of shape (D_o, N), float32
        Real targets in columns (least squares); ``targets.T`` is rows.
    """

    size: str
    sizes: list
    batch: int
    loss: str
    n_batches: int
    rows: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    initial: object
    learning_rate: float

    @property
    def flops(self):
        """Floating-point operations of the 11 products of one step."""
        products = 0
        for k in range(len(self.sizes) - 1):
            # Forward Ω_k h_k and weight gradient ∂ℓ/∂f_k h_kᵀ, every k.
            layer = self.sizes[k] * self.sizes[k + 1] * self.batch
            products += 2 * layer
            # Input gradient Ω_kᵀ ∂ℓ/∂f_k, for k ≥ 1 only.
            if k > 0:
                products += layer
        return 2 * products

    def batch_slice(self, index):
        start = (index % self.n_batches) * self.batch
        return slice(start, start + self.batch)


def make_problem(size, loss, n_batches=4, seed=0):
    """Random data and a He-initialized float32 network for one size."""
    from chainrule import Network

    sizes, batch = SIZES[size]
    rng = np.random.default_rng(seed)
    n_examples = batch * n_batches
    rows = rng.standard_normal((n_examples, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], n_examples).astype(np.int64)
    targets = rng.standard_normal((sizes[-1], n_examples), dtype=np.float32)
    initial = Network.initialize(sizes, rng, dtype=np.float32)
    return Problem(
        size=size,
        sizes=sizes,
        batch=batch,
        loss=loss,
        n_batches=n_batches,
        rows=rows,
        labels=labels,
        targets=targets,
        initial=initial,
        learning_rate=LEARNING_RATES[loss],
    )


def make_optimizer(name="sgd"):
    """chainrule's SGD with momentum, or the variant proposed for it."""
    if name == "sgd-gradient-scratch":
        return _gradient_scratch_sgd_class()(momentum=MOMENTUM)
    from chainrule.training.optimizers import SGD

    return SGD(momentum=MOMENTUM)


def _gradient_scratch_sgd_class():
    # Built on first use, so that importing this module imports no chainrule
    # (the PyTorch memory process imports it too).
    from chainrule.training.optimizers import SGD

    class GradientScratchSGD(SGD):
        """SGD with momentum whose update uses g's buffer as scratch space.

        A proposal measured here, not chainrule's optimizer. For heavy-ball
        momentum without weight decay it runs, in place,

            v ← μ v;  v ← v + g;  g ← α v;  θ ← θ − g

        on NumPy (four passes, no scratch buffer) and, on other array
        libraries, v ← μ v;  v ← v + g;  g ← v;  g ← α g;  θ ← θ − g (five
        in-place passes, no allocation), where chainrule's portable update
        allocates three new arrays per step. ``SGD.step`` documents that g
        may be overwritten. Every other configuration falls back to
        chainrule's own update.
        """

        def _plain(self):
            heavy_ball = not (self.weight_decay or self.nesterov or self.dampened)
            return heavy_ball and self.momentum != 0.0

        def _velocity(self, theta, xp):
            if self.velocity is None:
                self.velocity = xp.zeros_like(theta)
            return self.velocity

        def _numpy_step(self, theta, g, alpha):
            if not self._plain():
                super()._numpy_step(theta, g, alpha)
                return
            v = self._velocity(theta, np)
            v *= self.momentum
            v += g
            np.multiply(v, alpha, out=g)
            theta -= g

        def _portable_step(self, theta, g, alpha):
            if not self._plain():
                super()._portable_step(theta, g, alpha)
                return
            from chainrule.arrays import namespace_of

            v = self._velocity(theta, namespace_of(theta))
            v *= self.momentum
            v += g
            g[...] = v
            g *= alpha
            theta -= g

    return GradientScratchSGD


class Contender:
    """A named training step; ``steps_per_call`` steps per call."""

    name = "?"
    description = "?"
    steps_per_call = 1

    def __call__(self, index):
        raise NotImplementedError

    def check(self):
        """Raise if the contender's state stopped being finite."""


def _chainrule_loss(name):
    from chainrule.losses import get_loss

    return get_loss(name)


def _batch_targets(problem, where, targets, labels):
    if problem.loss == "cross-entropy":
        return labels[where]
    return targets[:, where]


class ChainruleStep(Contender):
    """``TrainingStep`` plus the SGD update, as ``chainrule train`` runs."""

    def __init__(self, problem, update=True, optimizer="sgd"):
        from chainrule.training.step import TrainingStep

        self.problem = problem
        self.network = problem.initial.copy()
        self.step = TrainingStep(self.network, _chainrule_loss(problem.loss))
        self.optimizer = make_optimizer(optimizer)
        self.update = update
        if update and optimizer == "sgd":
            self.name = "chainrule-numpy"
            self.description = "chainrule, NumPy: TrainingStep + SGD update"
        elif update:
            self.name = "chainrule-numpy-proposed-sgd"
            self.description = (
                "chainrule, NumPy: TrainingStep + the proposed SGD update "
                "(gradient buffer as scratch)"
            )
        else:
            self.name = "chainrule-numpy-gradient"
            self.description = "chainrule, NumPy: TrainingStep alone"
        self.value = 0.0

    def __call__(self, index):
        problem = self.problem
        where = problem.batch_slice(index)
        x = problem.rows[where].T
        y = _batch_targets(problem, where, problem.targets, problem.labels)
        self.value = self.step(x, y)
        if self.update:
            self.optimizer.step(
                self.network.parameters, self.step.gradient, problem.learning_rate
            )

    def check(self):
        if not np.isfinite(self.value):
            raise FloatingPointError(f"{self.name}: loss {self.value}")


class PublicForwardBackward(Contender):
    """The public API with its full trace, no update."""

    name = "forward-backward"
    description = "chainrule, NumPy: public forward + loss + backward (full trace)"

    def __init__(self, problem):
        self.problem = problem
        self.network = problem.initial.copy()
        self.loss = _chainrule_loss(problem.loss)

    def __call__(self, index):
        problem = self.problem
        where = problem.batch_slice(index)
        x = problem.rows[where].T
        y = _batch_targets(problem, where, problem.targets, problem.labels)
        trace = self.network.forward(x)
        self.value = float(self.loss.value(trace.output, y))
        dl_df = self.loss.gradient(trace.output, y)
        self.gradients = self.network.backward(trace, dl_df)


class BareProducts(Contender):
    """The 11 matrix products of a step, into preallocated buffers.

    Forward Ω_k h_k (4), weight gradients ∂ℓ/∂f_k h_kᵀ (4), input
    gradients Ω_kᵀ ∂ℓ/∂f_k for k ≥ 1 (3), in the orientation the step
    uses, with the batch as the transposed view of a row block. Inputs
    are fixed random arrays, so no value grows from step to step.
    """

    name = "bare-products"
    description = "NumPy: the 11 matrix products alone"

    def __init__(self, problem):
        rng = np.random.default_rng(1)
        self.problem = problem
        self.omega = [w.copy() for w in problem.initial.omega]
        batch = problem.batch
        sizes = problem.sizes

        def normal(shape):
            return rng.standard_normal(shape, dtype=np.float32)

        self.h = [None] + [normal((d, batch)) for d in sizes[1:-1]]
        self.f = [np.empty((d, batch), np.float32) for d in sizes[1:]]
        self.dl_df = [normal((d, batch)) for d in sizes[1:]]
        self.dl_dh = [None] + [np.empty((d, batch), np.float32) for d in sizes[1:-1]]
        self.grad = [np.empty_like(w) for w in self.omega]

    def __call__(self, index):
        problem = self.problem
        h = [problem.rows[problem.batch_slice(index)].T] + self.h[1:]
        omega, f, dl_df = self.omega, self.f, self.dl_df
        last = len(omega) - 1
        for k in range(last + 1):
            np.matmul(omega[k], h[k], out=f[k])
        for k in range(last, -1, -1):
            np.matmul(dl_df[k], h[k].T, out=self.grad[k])
            if k > 0:
                np.matmul(omega[k].T, dl_df[k], out=self.dl_dh[k])


class ChainruleTorch(Contender):
    """chainrule's own backprop on PyTorch tensors (no autograd)."""

    name = "chainrule-torch"
    description = "chainrule on torch tensors: TrainingStep + SGD update"

    def __init__(self, problem, optimizer="sgd"):
        import torch

        from chainrule.backends import network_to
        from chainrule.training.step import TrainingStep

        self.problem = problem
        self.network = network_to(problem.initial, torch, "cpu")
        self.step = TrainingStep(self.network, _chainrule_loss(problem.loss))
        self.optimizer = make_optimizer(optimizer)
        if optimizer != "sgd":
            self.name = "chainrule-torch-proposed-sgd"
            self.description = (
                "chainrule on torch tensors: TrainingStep + the proposed "
                "in-place SGD update"
            )
        self.rows = torch.from_numpy(problem.rows)
        self.labels = torch.from_numpy(problem.labels)
        self.targets = torch.from_numpy(problem.targets)
        self.value = 0.0

    def __call__(self, index):
        problem = self.problem
        where = problem.batch_slice(index)
        x = self.rows[where].T
        y = _batch_targets(problem, where, self.targets, self.labels)
        self.value = self.step(x, y)
        self.optimizer.step(
            self.network.parameters, self.step.gradient, problem.learning_rate
        )

    def check(self):
        if not np.isfinite(self.value):
            raise FloatingPointError(f"{self.name}: loss {self.value}")


class TorchEager(Contender):
    """PyTorch as people write it: nn.Linear, autograd, optim.SGD."""

    name = "pytorch-eager"
    description = "PyTorch eager: nn.Sequential, loss.backward(), optim.SGD"

    def __init__(self, problem):
        import torch

        self.torch = torch
        self.problem = problem
        layers = []
        last = len(problem.initial.omega) - 1
        for k, (w, b) in enumerate(
            zip(problem.initial.omega, problem.initial.beta, strict=True)
        ):
            linear = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w))
                linear.bias.copy_(torch.from_numpy(b[:, 0]))
            layers.append(linear)
            if k < last:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=problem.learning_rate, momentum=MOMENTUM
        )
        self.rows = torch.from_numpy(problem.rows)
        self.labels = torch.from_numpy(problem.labels)
        self.target_rows = torch.from_numpy(np.ascontiguousarray(problem.targets.T))
        self.value = 0.0

    def __call__(self, index):
        torch = self.torch
        problem = self.problem
        where = problem.batch_slice(index)
        self.optimizer.zero_grad(set_to_none=True)
        output = self.model(self.rows[where])
        if problem.loss == "cross-entropy":
            loss = torch.nn.functional.cross_entropy(output, self.labels[where])
        else:
            # Σ_j (f_j − y_j)² per example, mean over the batch.
            squared = torch.nn.functional.mse_loss(
                output, self.target_rows[where], reduction="sum"
            )
            loss = squared / problem.batch
        loss.backward()
        self.optimizer.step()
        self.value = loss.item()

    def check(self):
        if not np.isfinite(self.value):
            raise FloatingPointError(f"{self.name}: loss {self.value}")


class ScikitLearn(Contender):
    """MLPClassifier / MLPRegressor, one epoch of ``partial_fit`` per call.

    Same layer sizes, float32 data, SGD with momentum 0.9 (no Nesterov),
    no L2 penalty, no shuffling (so an epoch is the steps alone).
    """

    name = "scikit-learn"

    def __init__(self, problem):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        self.problem = problem
        options = dict(
            hidden_layer_sizes=tuple(problem.sizes[1:-1]),
            activation="relu",
            solver="sgd",
            alpha=0.0,
            batch_size=problem.batch,
            learning_rate_init=problem.learning_rate,
            momentum=MOMENTUM,
            nesterovs_momentum=False,
            shuffle=False,
            random_state=0,
        )
        self.steps_per_call = problem.n_batches
        if problem.loss == "cross-entropy":
            self.model = MLPClassifier(**options)
            self.description = "scikit-learn MLPClassifier: partial_fit epoch / steps"
            self.y = problem.labels
            self.first = {"classes": np.arange(problem.sizes[-1])}
        else:
            self.model = MLPRegressor(**options)
            self.description = "scikit-learn MLPRegressor: partial_fit epoch / steps"
            self.y = np.ascontiguousarray(problem.targets.T)
            self.first = {}

    def __call__(self, index):
        self.model.partial_fit(self.problem.rows, self.y, **self.first)
        self.first = {}

    def check(self):
        if not np.isfinite(self.model.loss_):
            raise FloatingPointError(f"{self.name}: loss {self.model.loss_}")


def make_contenders(problem, names):
    """The contenders called ``names`` for ``problem``, in that order."""
    makers = {
        "chainrule-numpy": lambda: ChainruleStep(problem, update=True),
        "chainrule-numpy-gradient": lambda: ChainruleStep(problem, update=False),
        "chainrule-numpy-proposed-sgd": lambda: ChainruleStep(
            problem, optimizer="sgd-gradient-scratch"
        ),
        "forward-backward": lambda: PublicForwardBackward(problem),
        "bare-products": lambda: BareProducts(problem),
        "chainrule-torch": lambda: ChainruleTorch(problem),
        "chainrule-torch-proposed-sgd": lambda: ChainruleTorch(
            problem, optimizer="sgd-gradient-scratch"
        ),
        "pytorch-eager": lambda: TorchEager(problem),
        "scikit-learn": lambda: ScikitLearn(problem),
    }
    unknown = [name for name in names if name not in makers]
    if unknown:
        raise ValueError(
            f"unknown contender(s) {unknown}; choose from {', '.join(makers)}"
        )
    return [makers[name]() for name in names]


ALL_CONTENDERS = (
    "chainrule-numpy",
    "chainrule-numpy-gradient",
    "forward-backward",
    "bare-products",
    "chainrule-torch",
    "pytorch-eager",
    "scikit-learn",
)

# Changes proposed for files other than the step, measured on request.
PROPOSALS = ("chainrule-numpy-proposed-sgd", "chainrule-torch-proposed-sgd")

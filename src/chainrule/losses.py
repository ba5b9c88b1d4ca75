"""Losses ℓ = l[f_K, y] and their derivative ∂ℓ/∂f_K (the book's chapter 5).

Each loss works on the network output f_K in the book's orientation,
shape (D_o, N), one column per example.

``value`` is the mean over the N examples of the book's per-example loss,
and ``gradient`` is its derivative with respect to f_K, so it carries the
factor 1/N. Both are computed from logits in a form that stays finite for
any finite input: logits of ±1e4 give finite values and gradients.

| loss | per-example loss | ∂/∂f_K (per example) |
| --- | --- | --- |
| LeastSquares | Σ_j (f_j − y_j)² | 2 (f − y) |
| BinaryCrossEntropy | Σ_j −y_j log σ(f_j) − (1−y_j) log(1−σ(f_j)) | σ(f) − y |
| CrossEntropy | −log softmax(f)_y | softmax(f) − onehot(y) |
"""

from __future__ import annotations

from array_api_compat import device

from .arrays import namespace_of


def _check_output(output, name):
    if len(output.shape) != 2:
        raise ValueError(
            f"{name}: the network output must have shape (D_o, N), "
            f"got shape {tuple(output.shape)}"
        )


def _check_same_shape(output, y, name):
    _check_output(output, name)
    if tuple(y.shape) != tuple(output.shape):
        raise ValueError(
            f"{name}: targets y must have the output's shape "
            f"{tuple(output.shape)} (D_o, N), got {tuple(y.shape)}"
        )


def _softplus(z, xp):
    # log(1 + e^z) = max(z, 0) + log(1 + e^(−|z|)), finite for any finite z.
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


def sigmoid(z):
    """Return σ(z) = 1 / (1 + e^(−z)) without overflow for any finite z."""
    xp = namespace_of(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z):
    """Return softmax over axis 0 (the D_o outputs of each column)."""
    xp = namespace_of(z)
    shifted = z - xp.max(z, axis=0, keepdims=True)
    e = xp.exp(shifted)
    return e / xp.sum(e, axis=0, keepdims=True)


class LeastSquares:
    """Least squares: ℓ = Σ_j (f_j − y_j)² per example (eq. 5.11, no ½).

    ``y`` is real-valued with the output's shape (D_o, N).
    """

    name = "least-squares"
    is_classification = False

    def value(self, output, y):
        """Mean over the N examples of Σ_j (f_j − y_j)²."""
        _check_same_shape(output, y, self.name)
        xp = namespace_of(output, y)
        n_examples = output.shape[1]
        return xp.sum((output - y) ** 2) / n_examples

    def gradient(self, output, y):
        """∂ℓ/∂f_K = 2 (f_K − y) / N, shape (D_o, N)."""
        _check_same_shape(output, y, self.name)
        n_examples = output.shape[1]
        return (2 / n_examples) * (output - y)

    def predict(self, output):
        """The prediction is the output itself."""
        return output


class BinaryCrossEntropy:
    """Binary cross-entropy on logits, one independent label per output.

    ``y`` holds 0/1 values with the output's shape (D_o, N). Each output
    f_j is a logit: the model's probability that y_j = 1 is σ(f_j). With
    D_o > 1 this is multi-label classification; the per-example loss sums
    over the D_o outputs.
    """

    name = "binary-cross-entropy"
    is_classification = True

    def value(self, output, y):
        """Mean over examples of Σ_j softplus(f_j) − y_j f_j."""
        _check_same_shape(output, y, self.name)
        xp = namespace_of(output, y)
        n_examples = output.shape[1]
        per_entry = _softplus(output, xp) - y * output
        return xp.sum(per_entry) / n_examples

    def gradient(self, output, y):
        """∂ℓ/∂f_K = (σ(f_K) − y) / N, shape (D_o, N)."""
        _check_same_shape(output, y, self.name)
        n_examples = output.shape[1]
        return (sigmoid(output) - y) / n_examples

    def predict(self, output):
        """Probabilities σ(f_K) that each label is 1."""
        return sigmoid(output)


class CrossEntropy:
    """Multiclass cross-entropy on logits (softmax, the book's eq. 5.24).

    The output holds D_o logits per example; ``y`` holds integer class
    labels of shape (N,), each in 0 … D_o − 1.
    """

    name = "cross-entropy"
    is_classification = True

    def _one_hot(self, output, y, xp):
        _check_output(output, self.name)
        if tuple(y.shape) != (output.shape[1],):
            raise ValueError(
                f"{self.name}: labels y must have shape (N,) = "
                f"({output.shape[1]},), got {tuple(y.shape)}"
            )
        n_classes = output.shape[0]
        classes = xp.arange(n_classes, device=device(output))
        return xp.astype(classes[:, None] == y[None, :], output.dtype)

    def value(self, output, y):
        """Mean over examples of log Σ_j e^(f_j) − f_y."""
        xp = namespace_of(output, y)
        one_hot = self._one_hot(output, y, xp)
        peak = xp.max(output, axis=0, keepdims=True)
        shifted = output - peak
        log_norm = xp.log(xp.sum(xp.exp(shifted), axis=0))
        picked = xp.sum(one_hot * shifted, axis=0)
        return xp.sum(log_norm - picked) / output.shape[1]

    def gradient(self, output, y):
        """∂ℓ/∂f_K = (softmax(f_K) − onehot(y)) / N, shape (D_o, N)."""
        xp = namespace_of(output, y)
        one_hot = self._one_hot(output, y, xp)
        return (softmax(output) - one_hot) / output.shape[1]

    def predict(self, output):
        """Class probabilities softmax(f_K), shape (D_o, N)."""
        return softmax(output)


LOSSES = {loss.name: loss for loss in (LeastSquares, BinaryCrossEntropy, CrossEntropy)}


def get_loss(name):
    """Return a loss instance from its name, as the CLI spells it."""
    try:
        return LOSSES[name]()
    except KeyError:
        choices = ", ".join(LOSSES)
        raise ValueError(f"unknown loss {name!r}; expected one of: {choices}") from None

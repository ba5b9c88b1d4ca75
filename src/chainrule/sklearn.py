"""scikit-learn estimators around chainrule's hand-written backprop.

``ChainRuleClassifier`` and ``ChainRuleRegressor`` train a fully
connected ReLU network with ``chainrule.training.train``. They take rows,
an array of shape (n_samples, n_features), as scikit-learn does, and hand
the math core columns through ``chainrule.data.to_columns``. They fit in a
``Pipeline`` (put a ``StandardScaler`` in front), ``GridSearchCV`` and
``cross_val_score``.

The constructor parameters mirror the options of ``chainrule train``:

| parameter | ``chainrule train`` | default |
| --- | --- | --- |
| ``hidden_layer_sizes`` | ``--hidden`` | (100, 100, 100) |
| ``learning_rate`` | ``--lr`` | 0.05 (regressor: 0.01) |
| ``momentum`` | ``--momentum`` | 0.9 |
| ``dampened`` | ``--dampened`` | False |
| ``learning_rate_step`` | ``--lr-step`` | 10 |
| ``learning_rate_factor`` | ``--lr-factor`` | 0.5 |
| ``batch_size`` | ``--batch-size`` | 100 |
| ``epochs`` | ``--epochs`` | 50 |
| ``dtype`` | ``--dtype`` | "float32" |
| ``relu_derivative_at_zero`` | ``--relu-at-zero`` | 1.0 |
| ``random_state`` | ``--seed`` | None |
| ``weight_decay``, ``weight_variance`` | (none) | 0.0, "he" |
| ``standardize_targets`` (regressor) | (none) | True |

Standardization of X is left to the pipeline (``StandardScaler``), as
scikit-learn expects. On raw features far from unit scale the default
learning rates can make SGD diverge; ``fit`` then raises
``FitDivergenceError`` (a ``ValueError``), which says so.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .arrays import to_numpy
from .data import Standardizer, to_columns
from .losses import CrossEntropy, LeastSquares, softmax
from .network import Network
from .training import SGD, DivergenceError, StepSchedule, train

__all__ = ["ChainRuleClassifier", "ChainRuleRegressor", "FitDivergenceError"]


class FitDivergenceError(DivergenceError, ValueError):
    """``fit`` diverged: a ``DivergenceError`` that is also a ``ValueError``.

    A ValueError, as scikit-learn reports data an estimator cannot fit
    with its settings; a DivergenceError, with the epoch, step and layer,
    as ``chainrule.training.train`` raises it. The message adds what
    usually fixes it: standardized inputs and a lower learning rate.
    """


_DTYPES = ("float32", "float64")


class _ChainRuleEstimator(BaseEstimator):
    """What the classifier and the regressor share: options, fit, state."""

    def __init__(
        self,
        hidden_layer_sizes=(100, 100, 100),
        *,
        learning_rate=0.05,
        momentum=0.9,
        dampened=False,
        learning_rate_step=10,
        learning_rate_factor=0.5,
        weight_decay=0.0,
        batch_size=100,
        epochs=50,
        dtype="float32",
        relu_derivative_at_zero=1.0,
        weight_variance="he",
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.dampened = dampened
        self.learning_rate_step = learning_rate_step
        self.learning_rate_factor = learning_rate_factor
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.dtype = dtype
        self.relu_derivative_at_zero = relu_derivative_at_zero
        self.weight_variance = weight_variance
        self.random_state = random_state

    # The network holds its array namespace (a module), which pickle
    # cannot store: keep its parameter arrays instead and rebuild it.
    def __getstate__(self):
        # A copy: the base class may hand back the live __dict__.
        state = dict(super().__getstate__())
        network = state.pop("network_", None)
        if network is not None:
            state["_network_arrays"] = (
                [to_numpy(w).copy() for w in network.omega],
                [to_numpy(b).copy() for b in network.beta],
                network.relu_derivative_at_zero,
            )
        return state

    def __setstate__(self, state):
        arrays = state.pop("_network_arrays", None)
        super().__setstate__(state)
        if arrays is not None:
            omega, beta, at_zero = arrays
            self.network_ = Network(omega, beta, at_zero)

    def _start(self, n_features, n_outputs):
        """Check the options; make a new network, optimizer and rng."""
        hidden = _check_options(self)
        self._rng = _generator(self.random_state)
        sizes = [n_features, *hidden, n_outputs]
        self.network_ = Network.initialize(
            sizes,
            self._rng,
            dtype=np.dtype(self.dtype),
            weight_variance=self.weight_variance,
            relu_derivative_at_zero=float(self.relu_derivative_at_zero),
        )
        self.optimizer_ = SGD(
            self.momentum,
            dampened=self.dampened,
            weight_decay=self.weight_decay,
        )
        self.loss_curve_ = []
        self.n_iter_ = 0

    def _run_epochs(self, x, y, n_epochs):
        """Train for ``n_epochs`` more epochs on columns x and targets y."""
        schedule = StepSchedule(
            self.learning_rate,
            self.learning_rate_step,
            self.learning_rate_factor,
        )
        first_epoch = self.n_iter_

        # The schedule counts epochs across partial_fit calls.
        def rate(epoch):
            return schedule(first_epoch + epoch)

        try:
            history = train(
                self.network_,
                x,
                y,
                self._loss(),
                epochs=n_epochs,
                batch_size=self.batch_size,
                schedule=rate,
                optimizer=self.optimizer_,
                rng=self._rng,
            )
        except DivergenceError as error:
            name = type(self).__name__
            raise FitDivergenceError(
                f"{error}. {name} does not standardize X: put a "
                f"StandardScaler in front, make_pipeline(StandardScaler(), "
                f"{name}(...)), and if it still diverges lower learning_rate "
                f"(now {self.learning_rate})",
                error.epoch,
                error.step,
                error.layer,
            ) from error
        self.loss_curve_ += [record.running_loss for record in history]
        self.n_iter_ += n_epochs
        return self

    def _output(self, X):
        """The network output f_K for rows X, as rows (N, D_o)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        x = to_columns(X, self.network_.dtype)
        return to_numpy(self.network_.predict(x)).T


class ChainRuleClassifier(ClassifierMixin, _ChainRuleEstimator):
    """A ReLU network classifier trained by chainrule's backprop.

    The network has one output per class and is trained with the
    softmax cross-entropy loss (the book's eq. 5.24) by minibatch SGD
    with momentum and a step learning-rate schedule.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100, 100, 100)
        The hidden widths D_1 … D_K; () gives no hidden layer (softmax
        regression). The default is the book's three-layer network.
    learning_rate : float, default 0.05
        The initial learning rate α.
    momentum : float in [0, 1), default 0.9
        Momentum μ in v ← μ v + g, θ ← θ − α v.
    dampened : bool, default False
        Use the book's eq. 6.11 form v ← μ v + (1 − μ) g.
    learning_rate_step : int, default 10
        Multiply α by ``learning_rate_factor`` every this many epochs.
    learning_rate_factor : float in (0, 1], default 0.5
    weight_decay : float ≥ 0, default 0.0
        L2 weight decay λ added to the gradient as λ θ.
    batch_size : int, default 100
    epochs : int, default 50
        Epochs run by ``fit``; ``partial_fit`` runs one.
    dtype : {"float32", "float64"}, default "float32"
        The floating-point type of the parameters and the data.
    relu_derivative_at_zero : float in [0, 1], default 1.0
        1 as in the book, 0 as in PyTorch.
    weight_variance : "he", "lecun", "glorot" or float, default "he"
        The initialization rule for Ω_k (see ``Network.initialize``).
    random_state : int, numpy.random.Generator, RandomState or None
        Seeds initialization and shuffling. None draws fresh entropy;
        a RandomState contributes one seed drawn from it.

    Attributes
    ----------
    network_ : Network
        The trained network, in the book's column orientation.
    classes_ : ndarray of shape (n_classes,)
        The class labels; output j of the network scores ``classes_[j]``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X had string column names
    optimizer_ : SGD
        The optimizer, whose momentum carries over between
        ``partial_fit`` calls.
    loss_curve_ : list of float
        The mean training loss of each epoch, over its minibatches.
    n_iter_ : int
        Epochs run so far.
    """

    def fit(self, X, y):
        """Train a new network on rows X and labels y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes, ids = np.unique(y, return_inverse=True)
        _check_two_classes(classes, "y")
        self.classes_ = classes
        self._start(X.shape[1], len(self.classes_))
        x = to_columns(X, self.network_.dtype)
        return self._run_epochs(x, ids.astype(np.int64), self.epochs)

    def partial_fit(self, X, y, classes=None):
        """Run one epoch on rows X and labels y, keeping what was learnt.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,)
            Every label the classifier will ever see; needed on the first
            call only (and checked against ``classes_`` afterwards).

        Returns
        -------
        self
        """
        first_call = not hasattr(self, "classes_")
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], reset=first_call
        )
        check_classification_targets(y)
        if first_call:
            if classes is None:
                raise ValueError(
                    "the first call to partial_fit needs classes=, the list "
                    "of every label the classifier will see"
                )
            classes = np.unique(np.asarray(classes))
            _check_two_classes(classes, "classes=")
            self.classes_ = classes
            self._start(X.shape[1], len(self.classes_))
        elif classes is not None and not np.array_equal(
            np.unique(np.asarray(classes)), self.classes_
        ):
            raise ValueError(
                f"classes={list(classes)} differs from the classes of the "
                f"first partial_fit call, {list(self.classes_)}"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y holds labels {list(unknown)} that are not in classes_ "
                f"{list(self.classes_)}; list them in the first call's classes="
            )
        ids = np.searchsorted(self.classes_, y).astype(np.int64)
        x = to_columns(X, self.network_.dtype)
        return self._run_epochs(x, ids, 1)

    def predict_proba(self, X):
        """Class probabilities softmax(f_K), shape (n_samples, n_classes)."""
        output = self._output(X).astype(np.float64)
        return softmax(output.T).T

    def predict_log_proba(self, X):
        """log softmax(f_K), finite even where a probability rounds to 0."""
        output = self._output(X).astype(np.float64)
        shifted = output - output.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict(self, X):
        """The most probable class label of each row of X."""
        output = self._output(X)
        return self.classes_[np.argmax(output, axis=1)]

    def _loss(self):
        return CrossEntropy()


class ChainRuleRegressor(RegressorMixin, _ChainRuleEstimator):
    """A ReLU network regressor trained by chainrule's backprop.

    The network has one linear output per target and is trained with the
    least-squares loss Σ_j (f_j − y_j)² (the book's eq. 5.11, no ½) by
    minibatch SGD with momentum and a step learning-rate schedule.

    Parameters
    ----------
    learning_rate : float, default 0.01
        Smaller than the classifier's 0.05: the least-squares gradient
        2 (f − y) is unbounded, where cross-entropy's is at most 1 per
        output, and 0.05 with momentum 0.9 diverges on data as plain as
        scikit-learn's diabetes set with standardized targets.
    standardize_targets : bool, default True
        Train on targets standardized with the training targets' mean and
        standard deviation, and map predictions back. Targets far from
        unit scale otherwise make the squared loss large and SGD unstable
        at the default learning rate.
    others
        As for ``ChainRuleClassifier``; each means the same here.

    Attributes
    ----------
    network_ : Network
        The trained network, in the book's column orientation.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X had string column names
    n_outputs_ : int
        The number of targets D_o.
    target_standardizer_ : chainrule.data.Standardizer or None
        The targets' mean and standard deviation, when standardized.
    optimizer_ : SGD
    loss_curve_ : list of float
        The mean training loss of each epoch, over its minibatches, on
        the standardized targets when ``standardize_targets`` is set.
    n_iter_ : int
        Epochs run so far.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100, 100, 100),
        *,
        learning_rate=0.01,
        momentum=0.9,
        dampened=False,
        learning_rate_step=10,
        learning_rate_factor=0.5,
        weight_decay=0.0,
        batch_size=100,
        epochs=50,
        dtype="float32",
        relu_derivative_at_zero=1.0,
        weight_variance="he",
        standardize_targets=True,
        random_state=None,
    ):
        super().__init__(
            hidden_layer_sizes,
            learning_rate=learning_rate,
            momentum=momentum,
            dampened=dampened,
            learning_rate_step=learning_rate_step,
            learning_rate_factor=learning_rate_factor,
            weight_decay=weight_decay,
            batch_size=batch_size,
            epochs=epochs,
            dtype=dtype,
            relu_derivative_at_zero=relu_derivative_at_zero,
            weight_variance=weight_variance,
            random_state=random_state,
        )
        self.standardize_targets = standardize_targets

    def fit(self, X, y):
        """Train a new network on rows X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        X, y = self._validate(X, y, reset=True)
        targets = self._start_targets(y)
        self._start(X.shape[1], self.n_outputs_)
        return self._run_epochs(*self._columns(X, targets), self.epochs)

    def partial_fit(self, X, y):
        """Run one epoch on rows X and targets y, keeping what was learnt.

        The first call fixes the number of targets and, with
        ``standardize_targets``, their mean and standard deviation.

        Returns
        -------
        self
        """
        first_call = not hasattr(self, "network_")
        X, y = self._validate(X, y, reset=first_call)
        if first_call:
            targets = self._start_targets(y)
            self._start(X.shape[1], self.n_outputs_)
        else:
            targets = _target_rows(y)
        if targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} targets per row, but the regressor "
                f"was started with {self.n_outputs_}"
            )
        return self._run_epochs(*self._columns(X, targets), 1)

    def predict(self, X):
        """The network output for each row of X, in the targets' units.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            1-D when ``fit`` got a 1-D y.
        """
        # Predictions are float64, as scikit-learn's regressors return.
        output = self._output(X).astype(np.float64)
        if self.target_standardizer_ is not None:
            output = self.target_standardizer_.inverse_transform(output)
        return output[:, 0] if self._single_target else output

    def _validate(self, X, y, reset):
        X, y = validate_data(
            self,
            X,
            y,
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=True,
            reset=reset,
        )
        return X, y

    def _start_targets(self, y):
        """Note the targets' layout and statistics; return them as rows."""
        self._single_target = y.ndim == 1
        targets = _target_rows(y)
        self.n_outputs_ = targets.shape[1]
        self.target_standardizer_ = (
            Standardizer.fit(targets) if self.standardize_targets else None
        )
        return targets

    def _columns(self, X, targets):
        """Rows X and targets → the core's columns, targets standardized."""
        if self.target_standardizer_ is not None:
            targets = self.target_standardizer_.transform(targets)
        dtype = self.network_.dtype
        return to_columns(X, dtype), to_columns(targets, dtype)

    def _loss(self):
        return LeastSquares()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _check_two_classes(classes, name):
    """Refuse fewer than two classes, as scikit-learn's classifiers do.

    With one class, softmax over one output is 1 whatever the network
    computes: the loss is 0, the gradient 0, and nothing is learnt.
    """
    if len(classes) < 2:
        raise ValueError(
            f"{name} holds one class ({_plain(classes[0])!r}); a classifier needs at "
            "least 2 classes to learn to tell apart"
        )


def _plain(value):
    """A NumPy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _target_rows(y):
    """Targets as float64 rows (N, D_o), one column per target."""
    return np.asarray(y, dtype=np.float64).reshape(len(y), -1)


def _check_options(estimator):
    """Validate the constructor options at fit time; return the widths."""
    hidden = estimator.hidden_layer_sizes
    if isinstance(hidden, numbers.Integral):
        hidden = (hidden,)
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise TypeError(
            "hidden_layer_sizes must be a tuple of widths such as (100, 100), "
            f"got {hidden!r}"
        ) from None
    for width in hidden:
        if not isinstance(width, numbers.Integral) or isinstance(width, bool):
            raise TypeError(
                f"hidden_layer_sizes must hold whole numbers, got {width!r} "
                f"in {estimator.hidden_layer_sizes!r}"
            )
        if width < 1:
            raise ValueError(
                f"every hidden layer needs at least 1 unit, got {width} in "
                f"{estimator.hidden_layer_sizes!r}"
            )
    if estimator.dtype not in _DTYPES:
        raise ValueError(
            f"dtype must be 'float32' or 'float64', got {estimator.dtype!r}"
        )
    for name in ("batch_size", "epochs", "learning_rate_step"):
        value = getattr(estimator, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be a whole number ≥ 1, got {value}")
    if not estimator.learning_rate > 0:
        raise ValueError(
            f"learning_rate must be positive, got {estimator.learning_rate!r}"
        )
    if not 0.0 <= estimator.momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {estimator.momentum!r}")
    if not 0.0 < estimator.learning_rate_factor <= 1.0:
        raise ValueError(
            "learning_rate_factor must be in (0, 1], got "
            f"{estimator.learning_rate_factor!r}"
        )
    return tuple(int(width) for width in hidden)


def _generator(random_state):
    """A numpy.random.Generator from scikit-learn's random_state values."""
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return np.random.default_rng(int(random_state))
    raise TypeError(
        "random_state must be None, an int, a numpy.random.Generator or a "
        f"RandomState, got {type(random_state).__name__}"
    )

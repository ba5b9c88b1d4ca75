"""Validation: a held-out split of the training data, and early stopping.

A validation set is what early stopping watches. It comes either from
the training split (``validation_split``, seeded and stratified by class
where the classes allow it) or from a separate file, whose labels are
then matched to the training classes (``align_labels``). The test set is
never used to decide anything during training.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..arrays import namespace_of


class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs.

    After each epoch, ``update`` compares the validation loss with the best
    so far. An epoch improves on the best when its loss is lower by more
    than ``min_delta``; the parameters of the best epoch are copied aside.
    Training stops once ``patience`` epochs in a row have not improved, and
    ``restore`` puts the best parameters back.

    Parameters
    ----------
    patience : int ≥ 1
        Epochs without improvement to wait before stopping.
    min_delta : float ≥ 0, default 0.0
        How much lower a loss must be to count as an improvement.

    Attributes
    ----------
    best_loss : float
        The lowest validation loss seen (inf before the first epoch).
    best_epoch : int or None
        The epoch (counting from 1) that reached it.
    wait : int
        Epochs since the best one.
    best_parameters : 1-D array or None
        A copy of the parameters at the best epoch.
    """

    def __init__(self, patience, min_delta=0.0):
        if isinstance(patience, bool) or int(patience) != patience or patience < 1:
            raise ValueError(
                f"patience must be a whole number of epochs ≥ 1, got {patience!r}"
            )
        if not (min_delta >= 0.0 and math.isfinite(min_delta)):
            raise ValueError(f"min_delta must be finite and ≥ 0, got {min_delta}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best_loss = math.inf
        self.best_epoch = None
        self.wait = 0
        self.best_parameters = None

    def update(self, epoch, validation_loss, parameters):
        """Record an epoch's validation loss; return True to stop training.

        Parameters
        ----------
        epoch : int
            The finished epoch, counting from 1.
        validation_loss : float
        parameters : 1-D array
            The network's flat parameters after the epoch; copied when the
            epoch is the best so far.
        """
        if validation_loss < self.best_loss - self.min_delta:
            self.best_loss = float(validation_loss)
            self.best_epoch = int(epoch)
            self.wait = 0
            if self.best_parameters is None:
                xp = namespace_of(parameters)
                self.best_parameters = xp.asarray(parameters, copy=True)
            else:
                self.best_parameters[...] = parameters
            return False
        self.wait += 1
        return self.wait >= self.patience

    @property
    def should_stop(self):
        """True once ``patience`` epochs in a row have not improved."""
        return self.wait >= self.patience

    def restore(self, parameters):
        """Copy the best epoch's parameters into ``parameters``, in place.

        Returns the best epoch, or None when no epoch was recorded.
        """
        if self.best_parameters is not None:
            parameters[...] = self.best_parameters
        return self.best_epoch

    def state(self):
        """JSON-able scalars and the best parameters, for checkpoints."""
        scalars = {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "best_loss": self.best_loss if math.isfinite(self.best_loss) else None,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
        }
        return scalars, self.best_parameters

    def load_state(self, scalars, best_parameters):
        """Restore what ``state`` returned."""
        best_loss = scalars.get("best_loss")
        self.best_loss = math.inf if best_loss is None else float(best_loss)
        self.best_epoch = scalars.get("best_epoch")
        self.wait = int(scalars.get("wait", 0))
        self.best_parameters = (
            None
            if best_parameters is None
            else namespace_of(best_parameters).asarray(best_parameters, copy=True)
        )


def validation_split(
    n_examples, fraction, seed, class_ids=None, source="data", class_names=None
):
    """Choose which training examples to hold out for validation.

    Parameters
    ----------
    n_examples : int
        N, the size of the training split.
    fraction : float in (0, 1)
        The share to hold out: ⌈fraction · N⌉ examples.
    seed : int
        Seeds the choice; the same seed gives the same split. The training
        run's own random stream (initialization, shuffling) is not touched.
    class_ids : ndarray of int of shape (N,), optional
        For classification: the split is stratified when every class has
        at least two examples and both parts can hold every class.
    source : str
        Names the data in messages.
    class_names : sequence, optional
        ``class_names[c]`` names class id c in messages (default: the ids).

    Returns
    -------
    train, validation : ndarray of int
        Sorted indices of the examples kept for training and held out.

    Raises
    ------
    ValueError
        When ``fraction`` is not in (0, 1), or the split would leave the
        training or the validation part empty, or (for classes) would
        leave fewer than two classes to train on when there were more.

    Warns
    -----
    UserWarning
        When a class has no training example left (it had too few
        examples to be stratified) but two or more classes remain: the
        network still has an output for it but never learns it.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 < fraction < 1.0):
        raise ValueError(f"the validation fraction must be in (0, 1), got {fraction!r}")
    n_validation = math.ceil(fraction * n_examples)
    n_train = n_examples - n_validation
    if n_train < 1:
        raise ValueError(
            f"{source}: holding out {fraction:g} of {n_examples} training "
            f"example(s) for validation leaves none to train on; use a "
            "smaller validation fraction or more data"
        )
    from ..data.dataset import split_indices

    train, validation = split_indices(
        n_examples, fraction, seed, class_ids=class_ids, source=source
    )
    if class_ids is None:
        return train, validation
    present = np.unique(class_ids)
    kept = np.unique(class_ids[train])
    missing = np.setdiff1d(present, kept)
    if len(missing) == 0:
        return train, validation

    def shown(ids):
        if class_names is None:
            return f"class id(s) {ids.tolist()}"
        return ", ".join(repr(class_names[int(c)]) for c in ids)

    if len(kept) < 2 <= len(present):
        raise ValueError(
            f"{source}: holding out {fraction:g} of {n_examples} training "
            f"example(s) for validation leaves only {shown(kept)} to train "
            f"on ({shown(missing)} all went to the validation part); "
            "classification needs at least two classes: use a smaller "
            "validation fraction or more data"
        )
    warnings.warn(
        f"{source}: {shown(missing)} have no training example left after "
        "the validation split (too few examples to stratify); training goes "
        "on, but the network will not learn them",
        stacklevel=2,
    )
    return train, validation


def align_labels(y, classes, known_classes, source, where=None):
    """Re-number class ids from one label set to another.

    Data loaded on its own numbers its classes 0 … C' − 1 in sorted order
    of its own labels; a validation or evaluation file must use the
    training run's numbering instead.

    Parameters
    ----------
    y : ndarray of int of shape (N,)
        Class ids into ``classes``.
    classes : list
        The labels of the loaded data, ``classes[i]`` for id i.
    known_classes : list
        The training run's (or model's) labels.
    source : str
        Names the data in messages.
    where : callable(int) → str, optional
        Names example i in messages (e.g. ``dataset.where("train", i)``).

    Returns
    -------
    ndarray of int64 of shape (N,)
        Ids into ``known_classes``.

    Raises
    ------
    ValueError
        A label that is not one of ``known_classes``, naming both label
        counts.
    """
    index = {_key(label): i for i, label in enumerate(known_classes)}
    mapping = np.empty(len(classes), dtype=np.int64)
    for i, label in enumerate(classes):
        position = index.get(_key(label))
        if position is None:
            first = int(np.argmax(np.asarray(y) == i))
            place = where(first) if where is not None else source
            shown = ", ".join(repr(c) for c in known_classes[:10])
            more = ", …" if len(known_classes) > 10 else ""
            raise ValueError(
                f"{place}: label {label!r} is not one of the model's "
                f"{len(known_classes)} classes ({shown}{more}); the data has "
                f"{len(classes)} distinct labels"
            )
        mapping[i] = position
    return mapping[np.asarray(y, dtype=np.int64)]


def _key(label):
    # Integer labels read from text may arrive as int or as str digits.
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return ("number", int(label))
    if isinstance(label, str):
        text = label.strip()
        try:
            return ("number", int(text))
        except ValueError:
            return ("text", text)
    return ("other", label)

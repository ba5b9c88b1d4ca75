"""NPZ files: arrays x, y (and x_test, y_test), and every bad-input message."""

import numpy as np
import pytest

from chainrule.data import DataError, load_dataset


def save(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def load_error(path, **options):
    with pytest.raises(DataError) as caught:
        load_dataset(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


X = np.arange(20.0).reshape(10, 2)
Y = np.array([0, 1] * 5)


def test_split_when_no_test_arrays(tmp_path):
    path = save(tmp_path, x=X, y=Y)
    data = load_dataset(path, test_fraction=0.2, seed=1)
    assert data.n_train == 8 and data.n_test == 2
    assert data.task == "classification" and data.classes == [0, 1]
    np.testing.assert_array_equal(np.bincount(data.y_test), [1, 1])
    assert data.where("test", 0).startswith(f"{path}, y[")


def test_file_test_arrays_are_kept_and_share_classes(tmp_path):
    x_test = np.ones((3, 2))
    y_test = np.array(["b", "c", "b"])
    path = save(
        tmp_path,
        x=X[:4],
        y=np.array(["a", "b", "a", "c"]),
        x_test=x_test,
        y_test=y_test,
    )
    data = load_dataset(path, test_fraction=0.5)
    assert data.n_train == 4 and data.n_test == 3
    assert data.classes == ["a", "b", "c"]
    np.testing.assert_array_equal(data.y_test, [1, 2, 1])
    assert data.where("test", 2) == f"{path}, y_test[2]"


def test_real_y_is_regression_and_2d_binary_is_multilabel(tmp_path):
    real = load_dataset(save(tmp_path, x=X, y=X[:, 0] + 0.5), test_fraction=0)
    assert real.task == "regression" and real.y_train.shape == (10, 1)
    flags = np.stack([Y, 1 - Y], axis=1).astype(bool)
    multi = load_dataset(save(tmp_path, "m.npz", x=X, y=flags), test_fraction=0)
    assert multi.task == "multilabel" and multi.y_train.shape == (10, 2)
    assert multi.y_train.dtype == np.float64


def test_float32_features_become_float64(tmp_path):
    path = save(tmp_path, x=X.astype(np.float32), y=Y)
    assert load_dataset(path, test_fraction=0).x_train.dtype == np.float64


def test_missing_y(tmp_path):
    message = load_error(save(tmp_path, x=X, labels=Y))
    assert "no array 'y'" in message and "'labels'" in message


def test_missing_x(tmp_path):
    assert "no array 'x'" in load_error(save(tmp_path, y=Y))


def test_only_one_test_array(tmp_path):
    message = load_error(save(tmp_path, x=X, y=Y, x_test=X))
    assert "'y_test'" in message and "both test arrays or neither" in message


def test_mismatched_lengths(tmp_path):
    message = load_error(save(tmp_path, x=X, y=Y[:7]))
    assert message == (
        f"{tmp_path / 'data.npz'}: x has 10 rows but y has 7; expected one "
        "target row per example"
    )


def test_wrong_dims(tmp_path):
    message = load_error(save(tmp_path, x=X[:, 0], y=Y))
    assert "array 'x' has shape (10,)" in message and "(N, 1)" in message
    cube = load_error(save(tmp_path, "c.npz", x=X, y=np.zeros((10, 2, 2))))
    assert "array 'y' has shape (10, 2, 2)" in cube


def test_test_features_disagree(tmp_path):
    path = save(tmp_path, x=X, y=Y, x_test=np.ones((2, 3)), y_test=Y[:2])
    assert "x_test has 3 features" in load_error(path)


def test_nan_in_features_names_index(tmp_path):
    x = X.copy()
    x[4, 1] = np.nan
    message = load_error(save(tmp_path, x=x, y=Y))
    assert "x[4, 1] is nan" in message


def test_infinity_in_real_targets_names_index(tmp_path):
    y = X[:, 0] + 0.5
    y[6] = np.inf
    message = load_error(save(tmp_path, x=X, y=y))
    assert f"{tmp_path / 'data.npz'}: y[6]:" in message and "finite" in message


def test_object_array_is_refused(tmp_path):
    objects = np.array([{"a": 1}] * 10, dtype=object)
    path = tmp_path / "objects.npz"
    np.savez(path, x=X, y=objects, allow_pickle=True)
    message = load_error(path)
    assert "array 'y' holds Python objects" in message
    assert "chainrule never loads pickled data" in message


def test_not_an_archive(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("x,y\n1,2\n")
    message = load_error(path)
    assert message.startswith(f"{path}: not a valid NPZ archive (it does not")
    # NumPy's own message here speaks of pickled data and how to load it.
    assert "pickle" not in message


@pytest.mark.parametrize(
    "content, reason",
    [
        (bytes(range(256)) * 2, "it does not start like a ZIP archive"),
        (b"", "the file is empty"),
        (b"\x80\x04\x95\x00", "it holds pickled Python data, which chainrule never"),
        (b"PK\x03\x04 damaged", "not a readable .npz archive"),
    ],
)
def test_file_that_is_not_an_archive(tmp_path, content, reason):
    path = tmp_path / "data.npz"
    path.write_bytes(content)
    message = load_error(path)
    assert reason in message
    assert "allow_pickle" not in message


def test_single_npy_array_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.array([None, 1], dtype=object), allow_pickle=True)
    message = load_error(path)
    assert message == (
        f"{path}: holds a single .npy array, not an .npz archive; expected "
        "numpy.savez(path, x=..., y=...)"
    )


def test_text_features_are_refused(tmp_path):
    message = load_error(save(tmp_path, x=X.astype(str), y=Y))
    assert "array 'x' has dtype <U" in message and "expected numbers" in message


def test_real_y_is_refused_as_classes(tmp_path):
    path = save(tmp_path, x=X, y=np.linspace(0.0, 1.0, 10))
    message = load_error(path, task="classification")
    assert message.startswith(f"{path}: y[1]: label 0.1111111111111111 is not")


def test_one_text_label_among_integers_in_y_test(tmp_path):
    y_test = np.array(["0", "1", "0", "1", "?", "1", "0", "1", "0", "1"])
    path = save(tmp_path, x=X, y=Y.astype(str), x_test=X, y_test=y_test)
    message = load_error(path)
    assert message.startswith(f"{path}: y_test[4]: label '?' is text")


def test_test_label_missing_from_training_is_refused(tmp_path):
    path = save(tmp_path, x=X, y=np.arange(10) % 3, x_test=X[:2], y_test=[7, 7])
    message = load_error(path)
    assert message.startswith(f"{path}: y_test[0] is 7, a label that y never")
    assert "(y holds 0, 1, 2)" in message


def test_test_label_missing_from_training_is_fine_for_regression(tmp_path):
    path = save(tmp_path, x=X, y=np.arange(10) % 3, x_test=X[:2], y_test=[7, 7])
    data = load_dataset(path, task="regression")
    np.testing.assert_array_equal(data.y_test[:, 0], [7.0, 7.0])

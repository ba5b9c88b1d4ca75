"""Built-in sets: MNIST-1D (generated once per session), scikit-learn's,
and how ``load_dataset`` resolves names and paths."""

import os
import random

import numpy as np
import pytest

from chainrule.data import (
    BUILTIN_NAMES,
    DataError,
    builtin,
    cache_directory,
    default_standardize,
    load_dataset,
)


@pytest.fixture(scope="session")
def mnist1d(tmp_path_factory):
    """Generate MNIST-1D once into a temporary cache, recording whether the
    global random states came back unchanged."""
    cache = tmp_path_factory.mktemp("cache")
    random.seed(123)
    np.random.seed(456)
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(456)
    data = load_dataset("mnist1d", cache_dir=cache)
    after = (random.random(), np.random.random())
    return data, cache, expected, after


def test_mnist1d_shapes_and_labels(mnist1d):
    data = mnist1d[0]
    assert data.x_train.shape == (4000, 40)
    assert data.x_test.shape == (1000, 40)
    assert data.y_train.shape == (4000,) and data.y_test.shape == (1000,)
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.unique(data.y_train), np.arange(10))
    np.testing.assert_array_equal(np.unique(data.y_test), np.arange(10))
    assert data.classes == list(range(10))
    assert data.task == "classification" and data.source == "mnist1d"


def test_mnist1d_restores_global_random_states(mnist1d):
    _, _, expected, after = mnist1d
    assert after == expected


def test_mnist1d_restores_states_when_generation_fails(monkeypatch):
    import mnist1d.data

    def seeds_then_fails(args):
        random.seed(0)
        np.random.seed(0)
        raise RuntimeError("generator failed")

    monkeypatch.setattr(mnist1d.data, "make_dataset", seeds_then_fails)
    random.seed(9)
    np.random.seed(9)
    expected = (random.random(), np.random.random())
    random.seed(9)
    np.random.seed(9)
    with pytest.raises(RuntimeError, match="generator failed"):
        builtin.generate_mnist1d()
    assert (random.random(), np.random.random()) == expected


def test_mnist1d_cache_is_reused(mnist1d, monkeypatch):
    data, cache, _, _ = mnist1d
    assert (cache / "mnist1d.npz").is_file()

    def must_not_run():
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(builtin, "generate_mnist1d", must_not_run)
    again = load_dataset("mnist1d", cache_dir=cache)
    np.testing.assert_array_equal(again.x_train, data.x_train)
    np.testing.assert_array_equal(again.y_test, data.y_test)


@pytest.mark.parametrize(
    "damage", [b"", b"not a zip file", b"PK\x03\x04 truncated archive"]
)
def test_corrupt_mnist1d_cache_is_regenerated(mnist1d, tmp_path, monkeypatch, damage):
    data = mnist1d[0]
    arrays = {
        "x": data.x_train,
        "y": data.y_train,
        "x_test": data.x_test,
        "y_test": data.y_test,
    }
    calls = []

    def generate():
        calls.append(1)
        return arrays

    monkeypatch.setattr(builtin, "generate_mnist1d", generate)
    (tmp_path / "mnist1d.npz").write_bytes(damage)
    again = load_dataset("mnist1d", cache_dir=tmp_path)
    assert calls == [1]
    np.testing.assert_array_equal(again.x_train, data.x_train)

    # The rewritten cache is whole and is used next time, with no
    # temporary file left behind.
    assert os.listdir(tmp_path) == ["mnist1d.npz"]
    load_dataset("mnist1d", cache_dir=tmp_path)
    assert calls == [1]


def test_cache_with_wrong_shapes_is_regenerated(mnist1d, tmp_path, monkeypatch):
    data = mnist1d[0]
    np.savez(
        tmp_path / "mnist1d.npz",
        x=data.x_train[:10],
        y=data.y_train[:10],
        x_test=data.x_test,
        y_test=data.y_test,
    )
    calls = []

    def generate():
        calls.append(1)
        return {
            "x": data.x_train,
            "y": data.y_train,
            "x_test": data.x_test,
            "y_test": data.y_test,
        }

    monkeypatch.setattr(builtin, "generate_mnist1d", generate)
    assert load_dataset("mnist1d", cache_dir=tmp_path).n_train == 4000
    assert calls == [1]


def test_mnist1d_ignores_test_fraction(mnist1d):
    cache = mnist1d[1]
    assert load_dataset("mnist1d", cache_dir=cache, test_fraction=0.5).n_test == 1000


def test_cache_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_directory() == tmp_path / "chainrule"
    assert cache_directory(tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")
    assert cache_directory().parts[-2:] == (".cache", "chainrule")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_directory().parts[-2:] == (".cache", "chainrule")


@pytest.mark.parametrize(
    ("name", "n_examples", "n_features", "n_classes"),
    [
        ("digits", 1797, 64, 10),
        ("iris", 150, 4, 3),
        ("breast_cancer", 569, 30, 2),
        ("wine", 178, 13, 3),
    ],
)
def test_sklearn_classification_sets(name, n_examples, n_features, n_classes):
    data = load_dataset(name, test_fraction=0.2, seed=0)
    assert data.task == "classification"
    assert data.n_train + data.n_test == n_examples
    assert data.n_test == int(np.ceil(0.2 * n_examples))
    assert data.n_features == n_features
    assert data.n_classes == n_classes
    # Stratified: every class is in both parts.
    assert len(np.unique(data.y_train)) == n_classes
    assert len(np.unique(data.y_test)) == n_classes
    assert default_standardize(name)


def test_sklearn_split_is_seeded():
    first = load_dataset("iris", seed=5)
    again = load_dataset("iris", seed=5)
    other = load_dataset("iris", seed=6)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


def test_diabetes_is_regression():
    data = load_dataset("diabetes", test_fraction=0.25)
    assert data.task == "regression" and data.classes is None
    assert data.x_train.shape[1] == 10
    assert data.y_train.shape == (data.n_train, 1)
    assert data.n_train + data.n_test == 442


def test_test_fraction_zero_means_no_test_set():
    data = load_dataset("wine", test_fraction=0)
    assert data.x_test is None and data.y_test is None and data.n_test == 0
    assert data.n_train == 178


def test_default_standardize():
    assert default_standardize("mnist1d") is False
    assert default_standardize("iris") is True
    assert default_standardize("my_data.csv") is True


def test_unknown_name_lists_builtins():
    with pytest.raises(DataError) as caught:
        load_dataset("mnist")
    message = str(caught.value)
    for name in BUILTIN_NAMES:
        assert name in message
    assert "path of an existing .csv or .npz file" in message


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match="absent.csv: no such file"):
        load_dataset(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(DataError, match=r"unknown file type \('.json'\)"):
        load_dataset(path)


def test_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_impossible_test_fraction(fraction):
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\)"):
        load_dataset("iris", test_fraction=fraction)


def test_unknown_task(tmp_path):
    with pytest.raises(ValueError, match="task must be one of"):
        load_dataset("iris", task="ranking")


def test_label_column_for_a_builtin_or_npz_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="iris: a label column or task applies"):
        load_dataset("iris", label_columns=0)
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((4, 1)), y=np.arange(4))
    with pytest.raises(DataError, match="applies to CSV files only"):
        load_dataset(path, label_columns=0)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5])
def test_impossible_seed(seed):
    with pytest.raises((TypeError, ValueError), match="seed must be"):
        load_dataset("iris", seed=seed)

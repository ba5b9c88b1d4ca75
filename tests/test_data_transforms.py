"""Standardization, the row/column boundary, and label checks for a loss."""

import numpy as np
import pytest

from chainrule.data import (
    DataError,
    Dataset,
    Standardizer,
    check_labels_for_loss,
    check_training_classes,
    load_dataset,
    standardize,
    to_columns,
    to_rows,
)

# ---- Standardizer ------------------------------------------------------------


def test_standardizer_uses_training_statistics():
    rows = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    standardizer = Standardizer.fit(rows)
    np.testing.assert_allclose(standardizer.mean, [3.0, 10.0], rtol=0, atol=1e-15)
    # Population std of 1, 3, 5 is sqrt(8/3); the constant column gets 1.
    np.testing.assert_allclose(
        standardizer.std, [np.sqrt(8 / 3), 1.0], rtol=1e-15, atol=0
    )
    out = standardizer.transform(rows)
    np.testing.assert_allclose(out.mean(axis=0), [0, 0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.std(axis=0), [1, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        standardizer.inverse_transform(out), rows, rtol=1e-15, atol=1e-14
    )


def test_standardizer_keeps_float32_and_checks_width():
    standardizer = Standardizer.fit(np.random.default_rng(0).normal(size=(20, 3)))
    rows = np.ones((4, 3), dtype=np.float32)
    assert standardizer.transform(rows).dtype == np.float32
    with pytest.raises(ValueError, match=r"expected rows of shape \(N, 3\)"):
        standardizer.transform(np.ones((4, 2)))


def plain_statistics(rows):
    # The textbook formulas, as Standardizer.fit computed them before it
    # scaled columns against overflow.
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    std[rows.max(axis=0) == rows.min(axis=0)] = 1.0
    return mean, std


def test_standardizer_matches_plain_formulas_bit_for_bit():
    # Scaling by powers of two is exact: ordinary data give the same
    # statistics and standardized values as the plain formulas (tolerance
    # 0).
    rng = np.random.default_rng(5)
    rows = rng.normal(size=(50, 4)) * [1e-3, 1.0, 1e5, 1e30] + [0, 7, -1e6, 1e31]
    standardizer = Standardizer.fit(rows)
    mean, std = plain_statistics(rows)
    np.testing.assert_array_equal(standardizer.mean, mean)
    np.testing.assert_array_equal(standardizer.std, std)
    np.testing.assert_array_equal(standardizer.transform(rows), (rows - mean) / std)


@pytest.mark.filterwarnings("error")
def test_standardizer_handles_the_largest_floats():
    # A column of 1e308 overflowed the plain mean; a column spanning
    # -1.7e308 … 1.7e308 overflows x − mean too.
    rows = np.array([[1e308, 1.7e308], [1e308, -1.7e308], [1e308, 1.7e308]])
    standardizer = Standardizer.fit(rows)
    np.testing.assert_allclose(
        standardizer.mean, [1e308, 1.7e308 / 3], rtol=1e-15, atol=0
    )
    # Population std of (a, −a, a) is a·sqrt(8/9); the constant column
    # gets 1.
    np.testing.assert_allclose(
        standardizer.std, [1.0, 1.7e308 * np.sqrt(8 / 9)], rtol=1e-15, atol=0
    )
    out = standardizer.transform(rows)
    expected = np.array([[0.0, 1 / np.sqrt(2)], [0.0, -np.sqrt(2)]])
    np.testing.assert_allclose(out[:2], expected, rtol=1e-15, atol=1e-15)


@pytest.mark.filterwarnings("error")
def test_standardizer_handles_tiny_values():
    # Squares of 1e-200 underflow to 0 in the plain formula (std 0).
    rows = np.array([[1e-200], [2e-200], [3e-200]])
    standardizer = Standardizer.fit(rows)
    np.testing.assert_allclose(
        standardizer.std, [1e-200 * np.sqrt(2 / 3)], rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(
        standardizer.transform(rows)[:, 0],
        [-np.sqrt(1.5), 0.0, np.sqrt(1.5)],
        rtol=1e-14,
        atol=1e-15,
    )


@pytest.mark.filterwarnings("error")
def test_standardizer_refuses_values_it_cannot_represent():
    standardizer = Standardizer.fit(np.full((3, 1), 1e308))
    with pytest.raises(ValueError, match=r"row 1, feature 0: -1\.7e\+308 lies"):
        standardizer.transform(np.array([[1e308], [-1.7e308]]))
    with pytest.raises(ValueError, match="in float32; rescale the feature or use"):
        standardizer.transform(np.ones((1, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="row 1, feature 0 is nan"):
        Standardizer.fit(np.array([[1.0], [np.nan]]))


@pytest.mark.filterwarnings("error")
def test_csv_column_of_1e308_standardizes(tmp_path):
    text = "".join(f"1e308,{i},{i % 2}\n" for i in range(10))
    data = csv_dataset(tmp_path, text)
    standardized, _ = standardize(data)
    np.testing.assert_array_equal(standardized.x_train[:, 0], np.zeros(10))


def test_standardizer_rejects_bad_statistics():
    with pytest.raises(ValueError, match="positive"):
        Standardizer(np.zeros(2), np.array([1.0, 0.0]))


def test_standardize_dataset_fits_on_train_only():
    data = load_dataset("wine", seed=0)
    standardized, standardizer = standardize(data)
    np.testing.assert_allclose(
        standardizer.mean, data.x_train.mean(axis=0), rtol=1e-15, atol=0
    )
    np.testing.assert_allclose(standardized.x_train.mean(axis=0), 0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        standardized.x_test, standardizer.transform(data.x_test), rtol=0, atol=0
    )
    # The original is untouched and the targets are shared.
    assert standardized.y_train is data.y_train
    assert not np.allclose(data.x_train.mean(axis=0), 0, atol=1e-3)


# ---- to_columns / to_rows -------------------------------------------------


def test_to_columns_is_a_view_when_dtype_matches():
    rows = np.arange(6.0).reshape(3, 2)
    columns = to_columns(rows, np.float64)
    assert columns.shape == (2, 3)
    assert np.shares_memory(columns, rows)
    np.testing.assert_array_equal(columns, rows.T)
    back = to_rows(columns)
    assert back.shape == (3, 2) and np.shares_memory(back, rows)


def test_to_columns_casts_explicitly():
    rows = np.arange(6.0).reshape(3, 2)
    columns = to_columns(rows, np.float32)
    assert columns.dtype == np.float32
    assert not np.shares_memory(columns, rows)
    np.testing.assert_array_equal(columns, rows.T.astype(np.float32))


def test_to_columns_rejects_1d():
    with pytest.raises(ValueError, match=r"reshape one example to \(1, D\)"):
        to_columns(np.arange(3.0), np.float64)
    with pytest.raises(ValueError, match=r"\(D, N\)"):
        to_rows(np.arange(3.0))


# ---- check_labels_for_loss ---------------------------------------------------


def csv_dataset(tmp_path, text, **options):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return load_dataset(path, test_fraction=0, **options)


def test_cross_entropy_refuses_real_targets_naming_the_line(tmp_path):
    data = csv_dataset(tmp_path, "x,y\n1,2\n2,3.5\n3,4\n")
    with pytest.raises(DataError) as caught:
        check_labels_for_loss(data, "cross-entropy")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'data.csv'}, line 3: label 3.5")
    assert "not a class" in message
    check_labels_for_loss(data, "least-squares")


def test_cross_entropy_refuses_integer_regression_and_multilabel(tmp_path):
    data = csv_dataset(tmp_path, "1,2\n2,3\n", task="regression")
    with pytest.raises(DataError, match="task='classification'"):
        check_labels_for_loss(data, "cross-entropy")
    multi = csv_dataset(tmp_path, "1,0,1\n2,1,1\n", label_columns=[1, 2])
    with pytest.raises(DataError, match="use binary-cross-entropy"):
        check_labels_for_loss(multi, "cross-entropy")
    check_labels_for_loss(multi, "binary-cross-entropy")


def test_binary_cross_entropy_needs_two_classes_or_01(tmp_path):
    two = csv_dataset(tmp_path, "1,yes\n2,no\n")
    check_labels_for_loss(two, "binary-cross-entropy")
    check_labels_for_loss(two, "cross-entropy")
    three = csv_dataset(tmp_path, "1,a\n2,b\n3,c\n")
    with pytest.raises(DataError) as caught:
        check_labels_for_loss(three, "binary-cross-entropy")
    assert str(caught.value).startswith(f"{tmp_path / 'data.csv'}, line 3: label 'c'")
    real = csv_dataset(tmp_path, "1,0\n2,0.5\n", task="regression")
    with pytest.raises(DataError, match="line 2: target 0.5"):
        check_labels_for_loss(real, "binary-cross-entropy")


def test_unknown_loss_name():
    data = Dataset(
        name="tiny",
        x_train=np.zeros((2, 1)),
        y_train=np.array([0, 1]),
        x_test=None,
        y_test=None,
        classes=[0, 1],
        task="classification",
        source="tiny",
    )
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        check_labels_for_loss(data, "hinge")


def test_dataset_checks_its_shapes():
    with pytest.raises(ValueError, match="x_train has 2 rows but y_train has 3"):
        Dataset(
            name="bad",
            x_train=np.zeros((2, 1)),
            y_train=np.zeros(3, dtype=np.int64),
            x_test=None,
            y_test=None,
            classes=[0],
            task="classification",
            source="bad",
        )


def test_training_needs_two_classes(tmp_path):
    one = csv_dataset(tmp_path, "1,cat\n2,cat\n3,cat\n")
    with pytest.raises(DataError) as caught:
        check_training_classes(one)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'data.csv'}: every training label")
    assert "'cat'" in message and "at least two classes" in message
    # Evaluating on such a file stays possible: only training is checked.
    check_labels_for_loss(one, "cross-entropy")
    check_training_classes(csv_dataset(tmp_path, "1,cat\n2,dog\n"))
    check_training_classes(csv_dataset(tmp_path, "1,2\n2,2\n", task="regression"))


def test_training_needs_two_classes_names_the_test_only_class():
    one_in_test = Dataset(
        name="data",
        x_train=np.ones((3, 1)),
        y_train=np.array([0, 0, 0]),
        x_test=np.ones((1, 1)),
        y_test=np.array([1]),
        classes=["a", "b"],
        task="classification",
        source="data.csv",
    )
    with pytest.raises(DataError) as caught:
        check_training_classes(one_in_test)
    message = str(caught.value)
    assert message.startswith("data.csv: every training label is 'a' ('b' only")

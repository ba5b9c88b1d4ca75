"""Every task type end to end: train, evaluate and predict through the CLI.

Each run is short (a few epochs) and checks that the model learned well
beyond chance, that ``evaluate`` reproduces the metrics the training run
reported, and that ``predict`` writes what the saved model predicts.
"""

import csv
import json

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.data import load_dataset
from chainrule.model_file import load


def run_cli(argv, capsys):
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _train(tmp_path, capsys, *options):
    out = tmp_path / "run"
    status, _, err = run_cli(["train", *options, "--quiet", "--out", out], capsys)
    assert status == 0, err
    return out, json.loads((out / "metrics.json").read_text())


def _evaluate(out, capsys, *options):
    status, stdout, err = run_cli(
        ["evaluate", out / "model.npz", *options, "--json"], capsys
    )
    assert status == 0, err
    return json.loads(stdout)


def _predict(out, data, capsys, tmp_path):
    target = tmp_path / "predictions.csv"
    status, stdout, err = run_cli(
        ["predict", out / "model.npz", "--data", data, "-o", target], capsys
    )
    assert status == 0, err
    with open(target, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _rows_csv(path, x, y_columns, names=None):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if names is not None:
            writer.writerow(names)
        for features, labels in zip(x, y_columns, strict=True):
            writer.writerow([repr(float(v)) for v in features] + list(labels))
    return path


def test_regression_least_squares_on_diabetes(tmp_path, capsys):
    out, metrics = _train(
        tmp_path,
        capsys,
        "--data",
        "diabetes",
        "--hidden",
        "32",
        "--epochs",
        "30",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
    )
    assert metrics["config"]["loss"] == "least-squares"
    results = _evaluate(out, capsys, "--data", "diabetes")
    # A linear model reaches R² ≈ 0.45 on diabetes; chance is 0.
    assert results["r2"][0] > 0.3
    assert results["rmse"][0] < 65
    data = load_dataset("diabetes", test_fraction=0.2, seed=0)
    np.savez(tmp_path / "features.npz", x=data.x_test)
    header, rows = _predict(out, tmp_path / "features.npz", capsys, tmp_path)
    assert header == ["prediction"]
    expected = load(out / "model.npz").predict(data.x_test)[:, 0]
    np.testing.assert_array_equal([float(r[0]) for r in rows], expected)


def test_binary_cross_entropy_on_breast_cancer(tmp_path, capsys):
    out, metrics = _train(
        tmp_path,
        capsys,
        "--data",
        "breast_cancer",
        "--loss",
        "binary-cross-entropy",
        "--hidden",
        "16",
        "--epochs",
        "10",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
    )
    assert metrics["test_accuracy"] > 0.9
    results = _evaluate(out, capsys, "--data", "breast_cancer")
    # evaluate measures the same model on the same test split.
    assert results["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    assert results["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    assert np.sum(results["confusion_matrix"]) == results["n_examples"]
    data = load_dataset("breast_cancer", test_fraction=0.2, seed=0)
    path = _rows_csv(tmp_path / "b.csv", data.x_test, [[c] for c in data.y_test])
    header, rows = _predict(out, path, capsys, tmp_path)
    assert header == ["prediction", "probability_benign"]
    predicted = load(out / "model.npz").predict(data.x_test)
    assert [r[0] for r in rows] == [str(label) for label in predicted]
    probabilities = np.array([float(r[1]) for r in rows])
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_multiclass_on_digits(tmp_path, capsys):
    out, metrics = _train(
        tmp_path,
        capsys,
        "--data",
        "digits",
        "--hidden",
        "32,32",
        "--epochs",
        "6",
        "--batch-size",
        "32",
        "--optimizer",
        "adam",
    )
    assert metrics["test_accuracy"] > 0.85
    results = _evaluate(out, capsys, "--data", "digits")
    assert results["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    confusion = np.array(results["confusion_matrix"])
    assert confusion.shape == (10, 10)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(
        results["accuracy"], abs=1e-12
    )
    data = load_dataset("digits", test_fraction=0.2, seed=0)
    path = _rows_csv(tmp_path / "d.csv", data.x_test, [[] for _ in data.y_test])
    header, rows = _predict(out, path, capsys, tmp_path)
    assert header[0] == "prediction" and len(header) == 11
    sums = [sum(float(v) for v in row[1:]) for row in rows]
    np.testing.assert_allclose(sums, 1.0, rtol=1e-6)


def test_multiclass_on_mnist1d(tmp_path, capsys):
    out, metrics = _train(tmp_path, capsys, "--epochs", "3")
    losses = [r["train_loss"] for r in metrics["history"]]
    assert losses[-1] < losses[0]
    # Chance is 0.1; three epochs of the book's recipe clear it well.
    assert metrics["test_accuracy"] > 0.3
    results = _evaluate(out, capsys, "--data", "mnist1d")
    assert results["n_examples"] == 1000
    assert results["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_multilabel_csv_with_three_label_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    # Three independent labels, each a threshold of its own feature mix.
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] > 0.5], axis=1)
    names = ["f1", "f2", "f3", "f4", "red", "green", "blue"]
    path = _rows_csv(tmp_path / "multi.csv", x, y.astype(int).tolist(), names)
    out, metrics = _train(
        tmp_path,
        capsys,
        "--data",
        path,
        "--label-column",
        "red,green,blue",
        "--hidden",
        "16",
        "--epochs",
        "20",
        "--batch-size",
        "16",
        "--lr",
        "0.02",
    )
    assert metrics["config"]["loss"] == "binary-cross-entropy"
    assert metrics["test_accuracy"] > 0.85
    results = _evaluate(out, capsys, "--data", path, "--label-column", "red,green,blue")
    assert set(results["per_label"]) == {"red", "green", "blue"}
    assert 0.0 <= results["exact_match"] <= results["accuracy"]
    header, rows = _predict(out, path, capsys, tmp_path)
    assert header == [
        "red",
        "green",
        "blue",
        "probability_red",
        "probability_green",
        "probability_blue",
    ]
    predicted = load(out / "model.npz").predict(x)
    np.testing.assert_array_equal(
        np.array([[int(v) for v in row[:3]] for row in rows]), predicted
    )

"""``chainrule evaluate`` and ``predict``: results and every refusal."""

import csv
import json
import re

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


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("iris") / "run"
    status = main(
        [
            "train",
            "--data",
            "iris",
            "--hidden",
            "8",
            "--epochs",
            "15",
            "--batch-size",
            "8",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    return out / "model.npz"


def _one_line_error(status, err, expected_status=1):
    assert status == expected_status, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_evaluate_prints_accuracy_and_confusion_matrix(iris_model, capsys):
    status, out, err = run_cli(["evaluate", iris_model, "--data", "iris"], capsys)
    assert status == 0, err
    assert re.search(r"accuracy  [01]\.\d{4}", out)
    assert "confusion matrix (rows: true class, columns: predicted)" in out
    assert re.search(r"setosa\s+\d+\s+\d+\s+\d+", out)
    metrics = json.loads((iris_model.parent / "metrics.json").read_text())
    status, out, _ = run_cli(
        ["evaluate", iris_model, "--data", "iris", "--json"], capsys
    )
    results = json.loads(out)
    assert results["n_examples"] == 30
    assert results["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_evaluate_a_csv_with_labels_in_another_order(iris_model, tmp_path, capsys):
    data = load_dataset("iris", test_fraction=0.2, seed=0)
    path = tmp_path / "iris.csv"
    # Only two of the three classes, written by name: ids must be remapped.
    keep = data.y_test != 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        for row, label in zip(data.x_test[keep], data.y_test[keep], strict=True):
            writer.writerow([*row, data.classes[label]])
    status, out, err = run_cli(
        ["evaluate", iris_model, "--data", path, "--json"], capsys
    )
    assert status == 0, err
    results = json.loads(out)
    model = load(iris_model)
    expected = np.mean(
        model.predict(data.x_test[keep])
        == np.asarray(data.classes, dtype=object)[data.y_test[keep]]
    )
    assert results["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert np.sum(np.array(results["confusion_matrix"])[0]) == 0


def test_feature_count_mismatch_names_both_counts(iris_model, tmp_path, capsys):
    path = tmp_path / "wide.csv"
    path.write_text("1,2,3,4,5,setosa\n2,3,4,5,6,virginica\n")
    status, _, err = run_cli(["evaluate", iris_model, "--data", path], capsys)
    _one_line_error(status, err)
    assert "5 feature column(s)" in err and "takes 4 features" in err
    status, _, err = run_cli(
        ["predict", iris_model, "--data", path, "-o", tmp_path / "p.csv"], capsys
    )
    _one_line_error(status, err)
    assert "5 feature column(s) besides 1 label column(s)" in err
    assert "takes 4 features" in err
    assert not (tmp_path / "p.csv").exists()


def test_unknown_label_names_both_label_counts(iris_model, tmp_path, capsys):
    path = tmp_path / "odd.csv"
    path.write_text("1,2,3,4,setosa\n2,3,4,5,tulip\n3,4,5,6,rose\n")
    status, _, err = run_cli(["evaluate", iris_model, "--data", path], capsys)
    _one_line_error(status, err)
    assert "odd.csv, line 3" in err
    assert "'rose'" in err
    assert "model's 3 classes" in err and "3 distinct labels" in err


def test_regression_labels_for_a_classifier(iris_model, capsys):
    status, _, err = run_cli(["evaluate", iris_model, "--data", "diabetes"], capsys)
    _one_line_error(status, err)
    assert "10 feature column(s)" in err


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"", "truncated or corrupted"),
        (b"PK\x03\x04garbage", "truncated or corrupted"),
    ],
)
def test_bad_model_file(tmp_path, capsys, content, pattern):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    for command in (
        ["evaluate", path, "--data", "iris"],
        ["predict", path, "--data", path, "-o", tmp_path / "p.csv"],
    ):
        status, _, err = run_cli(command, capsys)
        _one_line_error(status, err)
        assert str(path) in err and re.search(pattern, err)


def test_missing_model(tmp_path, capsys):
    status, _, err = run_cli(
        ["evaluate", tmp_path / "none.npz", "--data", "iris"], capsys
    )
    _one_line_error(status, err)
    assert "no such model file" in err


def test_predict_features_only_csv_with_header(iris_model, tmp_path, capsys):
    data = load_dataset("iris", test_fraction=0.2, seed=0)
    path = tmp_path / "features.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "c", "d"])
        writer.writerows([[repr(float(v)) for v in row] for row in data.x_test])
    target = tmp_path / "out.csv"
    status, out, err = run_cli(
        ["predict", iris_model, "--data", path, "-o", target], capsys
    )
    assert status == 0, err
    assert f"wrote 30 predictions to {target}" in out
    with open(target, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "prediction",
        "probability_setosa",
        "probability_versicolor",
        "probability_virginica",
    ]
    model = load(iris_model)
    assert [r[0] for r in rows[1:]] == list(model.predict(data.x_test))
    expected = model.predict_proba(data.x_test)
    assert expected.dtype == np.float32
    # float32's shortest text, read back as float32, is the same value
    # bit for bit; no float64 digits beyond float32's precision are written.
    probabilities = np.array([r[1:] for r in rows[1:]], dtype=np.float32)
    np.testing.assert_array_equal(probabilities, expected)
    # float32 needs at most 9 significant digits to round-trip.
    for row in rows[1:]:
        for text in row[1:]:
            mantissa = text.lower().split("e")[0]
            digits = re.sub(r"[^0-9]", "", mantissa).lstrip("0")
            assert len(digits) <= 9, text


def test_predict_npz(iris_model, tmp_path, capsys):
    data = load_dataset("iris", test_fraction=0.2, seed=0)
    np.savez(tmp_path / "x.npz", x=data.x_test[:5])
    target = tmp_path / "out.csv"
    status, _, err = run_cli(
        ["predict", iris_model, "--data", tmp_path / "x.npz", "-o", target], capsys
    )
    assert status == 0, err
    assert len(target.read_text().splitlines()) == 6


@pytest.mark.parametrize(
    "name, content, pattern",
    [
        ("cell.csv", "1,2,3,4\n1,x,3,4\n", r"cell\.csv, line 2, column 2: 'x'"),
        ("nan.csv", "1,2,3,4\n1,2,nan,4\n", r"line 2, column 3: 'nan' is not a finite"),
        ("ragged.csv", "1,2,3,4\n1,2,3\n", r"line 2: 3 cells, expected 4"),
        ("empty.csv", "", r"empty"),
        ("header.csv", "a,b,c,d\n", r"a header row but no examples"),
        ("data.txt", "1,2,3,4\n", r"unknown file type"),
    ],
)
def test_predict_bad_data(iris_model, tmp_path, capsys, name, content, pattern):
    path = tmp_path / name
    path.write_text(content)
    target = tmp_path / "out.csv"
    status, _, err = run_cli(
        ["predict", iris_model, "--data", path, "-o", target], capsys
    )
    _one_line_error(status, err)
    assert re.search(pattern, err), err
    assert not target.exists()


def test_predict_npz_without_x(iris_model, tmp_path, capsys):
    np.savez(tmp_path / "y.npz", features=np.zeros((2, 4)))
    status, _, err = run_cli(
        ["predict", iris_model, "--data", tmp_path / "y.npz", "-o", tmp_path / "o"],
        capsys,
    )
    _one_line_error(status, err)
    assert "no array 'x' (arrays: features)" in err


def test_predict_into_a_missing_folder(iris_model, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 4)))
    target = tmp_path / "absent" / "out.csv"
    status, _, err = run_cli(
        ["predict", iris_model, "--data", tmp_path / "x.npz", "-o", target], capsys
    )
    _one_line_error(status, err)
    assert f"the folder {target.parent} does not exist" in err


def test_predict_refuses_to_write_over_its_data_file(iris_model, tmp_path, capsys):
    data = tmp_path / "rows.csv"
    np.savetxt(data, np.ones((3, 4)), delimiter=",")
    before = data.read_bytes()
    # Even --overwrite never replaces the input, also when named another way.
    for output in (data, tmp_path / "." / "rows.csv"):
        for extra in ([], ["--overwrite"]):
            argv = ["predict", iris_model, "--data", data, "-o", output, *extra]
            status, _, err = run_cli(argv, capsys)
            _one_line_error(status, err, 2)
            assert "is the --data file itself" in err, err
    assert data.read_bytes() == before


def test_predict_overwrites_only_with_overwrite(iris_model, tmp_path, capsys):
    data = tmp_path / "x.npz"
    np.savez(data, x=np.ones((2, 4)))
    target = tmp_path / "out.csv"
    target.write_text("keep me\n")
    argv = ["predict", iris_model, "--data", data, "-o", target]
    status, _, err = run_cli(argv, capsys)
    _one_line_error(status, err, 2)
    assert f"-o {target}: the file exists; give --overwrite" in err
    assert target.read_text() == "keep me\n"

    status, out, err = run_cli([*argv, "--overwrite"], capsys)
    assert status == 0, err
    assert target.read_text().startswith("prediction,")


def test_evaluate_regression_reports_r2_and_rmse(tmp_path, capsys):
    out = tmp_path / "run"
    status, _, err = run_cli(
        [
            "train",
            "--data",
            "diabetes",
            "--hidden",
            "8",
            "--epochs",
            "3",
            "--quiet",
            "--out",
            out,
        ],
        capsys,
    )
    assert status == 0, err
    status, text, err = run_cli(
        ["evaluate", out / "model.npz", "--data", "diabetes"], capsys
    )
    assert status == 0, err
    assert "RMSE" in text and "R²" in text
    status, text, _ = run_cli(
        ["evaluate", out / "model.npz", "--data", "diabetes", "--json"], capsys
    )
    results = json.loads(text)
    model = load(out / "model.npz")
    data = load_dataset("diabetes", test_fraction=0.2, seed=0)
    residual = model.predict(data.x_test) - data.y_test
    # RMSE in the targets' own units, from the saved model's predictions.
    assert results["rmse"][0] == pytest.approx(
        float(np.sqrt(np.mean(residual**2))), rel=1e-12
    )


@pytest.mark.parametrize(
    "options",
    [
        ["--data", "diabetes"],
        ["--data", "diabetes", "--no-standardize", "--lr", "1e-4"],
        ["--data", "iris", "--loss", "least-squares"],
        ["--data", "iris", "--dtype", "float64"],
    ],
    ids=["standardized", "raw-targets", "one-hot", "float64"],
)
def test_evaluate_reports_the_losses_of_metrics_json_exactly(options, tmp_path, capsys):
    # Regression trains on targets standardized and rounded to float32;
    # evaluate takes its loss the same way, so the numbers are equal, not
    # merely close.
    out = tmp_path / "run"
    argv = ["train", *options, "--hidden", "8", "--epochs", "2", "--quiet"]
    status, _, err = run_cli(
        [*argv, "--validation-fraction", "0.2", "--out", out], capsys
    )
    assert status == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    for part in ("train", "validation", "test"):
        status, text, err = run_cli(
            ["evaluate", out / "model.npz", options[0], options[1]]
            + ["--part", part, "--json"],
            capsys,
        )
        assert status == 0, err
        # Exact equality (tolerance 0): the same arrays, the same code.
        assert json.loads(text)["loss"] == metrics[f"{part}_loss"], part

"""``chainrule gradcheck`` and ``chainrule compare`` from the command line."""

import json

import numpy as np
import pytest

import chainrule.cli as cli
from chainrule import Network
from chainrule.verification import RELATIVE_ERROR_DEFINITION


@pytest.fixture(autouse=True)
def only_these_subcommands(monkeypatch):
    """Build the parser from this module's subcommands alone."""
    monkeypatch.setattr(cli, "SUBCOMMANDS", ["gradcheck", "compare"])


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_random_network_passes_with_a_table_per_layer(capsys):
    status, out, _ = _run(capsys, "gradcheck", "--sizes", "3,5,4,2", "--seed", "1")

    assert status == 0
    assert RELATIVE_ERROR_DEFINITION in out
    assert "a'(0) = 1" in out
    for symbol in ("Ω_0", "β_0", "Ω_1", "β_1", "Ω_2", "β_2"):
        assert f"\n{symbol} " in out
    assert "PASS: all 6 parameter arrays" in out


@pytest.mark.parametrize(
    "loss", ["least-squares", "binary-cross-entropy", "cross-entropy"]
)
@pytest.mark.parametrize("mode", ["full", "sample", "direction"])
def test_json_output_for_each_loss_and_mode(capsys, loss, mode):
    status, out, _ = _run(
        capsys, "gradcheck", "--loss", loss, "--mode", mode, "--samples", "3", "--json"
    )
    data = json.loads(out)

    assert status == 0
    assert data["result"]["passed"] is True
    assert data["result"]["mode"] == mode
    assert data["result"]["loss_name"] == loss
    assert data["problem"]["sizes"] == [4, 8, 8, 3]
    assert len(data["result"]["rows"]) == 6


def test_float32_is_checked_in_float64_and_says_so(capsys):
    status, out, _ = _run(capsys, "gradcheck", "--dtype", "float32")

    assert status == 0
    assert "checked in float64 (network dtype float32)" in out
    assert "note: the float32 network was checked on a float64 NumPy copy" in out


def test_the_sweep_prints_one_row_per_step(capsys):
    status, out, _ = _run(
        capsys, "gradcheck", "--sizes", "3,2", "--loss", "cross-entropy", "--sweep"
    )

    assert status == 0
    sweep = out.split("step sweep")[1]
    for exponent in range(1, 11):
        assert f"\n1e-{exponent:02d} " in sweep


def test_an_impossible_tolerance_fails_with_exit_status_1(capsys):
    """rtol and atol far below rounding error: the check must fail."""
    status, out, _ = _run(capsys, "gradcheck", "--rtol", "1e-15", "--atol", "1e-20")

    assert status == 1
    assert "FAIL: Ω_0 (layer 0)" in out
    assert "failing layers: 0, 1, 2" in out


def test_bad_sizes_are_a_usage_error(capsys):
    status, _, err = _run(capsys, "gradcheck", "--sizes", "4,x,3")
    assert status == 2
    assert "--sizes" in err


def test_model_without_data_is_a_usage_error(capsys, tmp_path):
    status, _, err = _run(capsys, "gradcheck", "--model", str(tmp_path / "m.npz"))
    assert status == 2
    assert "--model needs --data" in err


def test_a_saved_model_is_checked_on_a_data_file(capsys, tmp_path):
    model_file = pytest.importorskip("chainrule.model_file")
    rng = np.random.default_rng(0)
    network = Network.initialize([3, 6, 3], rng, dtype=np.float32)
    model = model_file.Model(
        network=network,
        loss="cross-entropy",
        task="classification",
        classes=["ant", "bee", "cat"],
        input_mean=np.array([1.0, 2.0, 3.0]),
        input_std=np.array([2.0, 1.0, 0.5]),
    )
    model_path = tmp_path / "model.npz"
    model_file.save(model_path, model)
    # Class labels in another order than the model's: they are matched by
    # name, not by position.
    data_path = tmp_path / "data.csv"
    lines = ["a,b,c,animal"]
    for i in range(20):
        x = rng.normal(size=3)
        lines.append(f"{x[0]},{x[1]},{x[2]},{['cat', 'bee', 'ant'][i % 3]}")
    data_path.write_text("\n".join(lines) + "\n")

    status, out, err = _run(
        capsys,
        "gradcheck",
        "--model",
        str(model_path),
        "--data",
        str(data_path),
        "--examples",
        "10",
        "--json",
    )

    assert status == 0, err
    data = json.loads(out)
    assert data["result"]["passed"] is True
    assert data["result"]["original_dtype"] == "float32"
    assert data["result"]["loss_name"] == "cross-entropy"
    assert data["problem"]["examples"] == 10


def test_a_missing_model_file_is_one_line(capsys, tmp_path):
    pytest.importorskip("chainrule.model_file")
    data_path = tmp_path / "data.csv"
    data_path.write_text("a,label\n1.0,0\n2.0,1\n")
    status, _, err = _run(
        capsys,
        "gradcheck",
        "--model",
        str(tmp_path / "none.npz"),
        "--data",
        str(data_path),
    )
    assert status == 1
    assert len(err.strip().splitlines()) == 1


def test_data_class_ids_are_translated_into_the_models_by_label():
    from types import SimpleNamespace

    from chainrule.cli.check_problem import _model_class_ids

    model = SimpleNamespace(
        classes=["ant", "bee", "cat"], n_outputs=3, loss="cross-entropy"
    )
    dataset = SimpleNamespace(classes=["cat", "ant", "bee"], source="data.csv")
    ids = np.array([0, 1, 2, 0])
    np.testing.assert_array_equal(_model_class_ids(model, dataset, ids), [2, 0, 1, 2])

    unknown = SimpleNamespace(classes=["cat", "dog"], source="data.csv")
    with pytest.raises(cli.CommandError, match="dog"):
        _model_class_ids(model, unknown, ids[:2] % 2)


@pytest.mark.parametrize("value", ["0", "0.5", "1"])
def test_relu_at_zero_takes_any_value_in_the_unit_interval(capsys, value):
    # The same range as train and explain accept.
    status, out, err = _run(capsys, "gradcheck", "--relu-at-zero", value, "--json")
    assert status == 0, err
    derivative = json.loads(out)["result"]["relu_derivative_at_zero"]
    assert derivative == float(value)


@pytest.mark.parametrize("value", ["-0.1", "2", "nan", "one"])
def test_relu_at_zero_outside_the_unit_interval_is_refused(capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gradcheck", "--relu-at-zero", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "[0, 1]" in err


def test_compare_has_no_relu_option(capsys):
    # Parity with PyTorch needs its convention, a'(0) = 0, always.
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--reference", "torch", "--relu-at-zero", "1"])
    assert exit_info.value.code == 2
    assert "--relu-at-zero" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "no --relu-at-zero option" in help_text


def test_more_examples_than_the_data_has_warns_and_says_how_many(capsys, tmp_path):
    from chainrule import model_file

    rng = np.random.default_rng(3)
    network = Network.initialize([2, 3, 1], rng, dtype=np.float64)
    model = model_file.Model(network=network, loss="least-squares", task="regression")
    model_path = tmp_path / "model.npz"
    model_file.save(model_path, model)
    data_path = tmp_path / "data.csv"
    rows = [f"{a:.4f},{b:.4f},{a - b + 0.5:.4f}" for a, b in rng.normal(size=(7, 2))]
    data_path.write_text("a,b,y\n" + "\n".join(rows) + "\n")

    arguments = ["gradcheck", "--model", str(model_path), "--data", str(data_path)]
    with pytest.warns(UserWarning, match="only 7 examples"):
        status, out, err = _run(capsys, *arguments, "--examples", "100000")
    assert status == 0, err
    assert ", 7 examples," in out

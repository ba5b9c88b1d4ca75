"""ONNX export: run the exported graph in onnxruntime, compare outputs."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.model_file import Model, load, save
from chainrule.network import Network

onnx = pytest.importorskip("onnx", reason="onnx is not installed")
onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")

from chainrule.interchange.onnx import save_onnx, to_onnx  # noqa: E402


def make_network(sizes, dtype, seed=0):
    network = Network.initialize(sizes, np.random.default_rng(seed), dtype=dtype)
    # Non-zero biases, so that a dropped or misplaced β_k shows.
    rng = np.random.default_rng(seed + 1)
    for beta in network.beta:
        beta[...] = rng.normal(0.0, 0.5, beta.shape).astype(dtype)
    return network


def run_graph(proto, rows):
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"input": rows}), strict=True))


def operators(proto):
    return [node.op_type for node in proto.graph.node]


def test_network_graph_matches_predict_in_float64():
    network = make_network([7, 11, 9, 4], np.float64)
    rows = np.random.default_rng(2).normal(size=(40, 7))
    proto = to_onnx(network)
    assert operators(proto) == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]

    outputs = run_graph(proto, rows)
    assert list(outputs) == ["output"]
    expected = network.predict(rows.T).T
    # The same products in another library: float64 rounding only.
    np.testing.assert_allclose(outputs["output"], expected, rtol=1e-12, atol=1e-12)


def test_classifier_with_standardization_in_float32():
    network = make_network([5, 16, 16, 3], np.float32)
    rng = np.random.default_rng(3)
    model = Model(
        network=network,
        loss="cross-entropy",
        classes=["cat", "dog", "fox"],
        input_mean=rng.normal(10.0, 3.0, 5),
        input_std=rng.uniform(0.5, 4.0, 5),
    )
    # Raw features far from 0: wrong or missing standardization shows.
    rows = rng.normal(10.0, 3.0, size=(60, 5)).astype(np.float32)
    proto = to_onnx(model)
    assert operators(proto) == [
        "Sub",
        "Div",
        "Gemm",
        "Relu",
        "Gemm",
        "Relu",
        "Gemm",
        "Softmax",
    ]
    outputs = run_graph(proto, rows)

    # chainrule standardizes in float64 and then rounds to float32; the
    # graph standardizes in float32: they agree to float32 rounding
    # (1e-5 relative and absolute).
    np.testing.assert_allclose(
        outputs["output"], model.output(rows), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict_proba(rows), rtol=1e-5, atol=1e-6
    )
    labels = np.asarray(model.classes)[outputs["probabilities"].argmax(axis=1)]
    np.testing.assert_array_equal(labels, model.predict(rows))

    properties = {entry.key: entry.value for entry in proto.metadata_props}
    assert properties["chainrule.classes"] == '["cat", "dog", "fox"]'
    assert properties["chainrule.loss"] == "cross-entropy"


def test_binary_cross_entropy_gets_sigmoid_probabilities():
    network = make_network([3, 6, 2], np.float64)
    model = Model(network=network, loss="binary-cross-entropy", task="multilabel")
    rows = np.random.default_rng(4).normal(size=(25, 3))
    outputs = run_graph(to_onnx(model), rows)
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict_proba(rows), rtol=1e-12, atol=1e-12
    )


def test_regression_with_standardized_targets_gives_the_targets_units():
    # A regression model trained on standardized targets: the network's
    # f_K is in standard units, Model.output maps it back as
    # f_K · std + mean, and so must the graph.
    network = make_network([4, 8, 2], np.float64)
    rng = np.random.default_rng(6)
    model = Model(
        network=network,
        loss="least-squares",
        task="regression",
        input_mean=rng.normal(5.0, 1.0, 4),
        input_std=rng.uniform(0.5, 2.0, 4),
        target_mean=np.array([150.0, -20.0]),
        target_std=np.array([75.0, 3.0]),
    )
    rows = rng.normal(5.0, 1.0, size=(30, 4))
    proto = to_onnx(model)
    assert operators(proto)[-2:] == ["Mul", "Add"]
    outputs = run_graph(proto, rows)
    # Float64 throughout: rounding only (1e-12 relative, 1e-9 absolute
    # for outputs of size ~100).
    np.testing.assert_allclose(
        outputs["output"], model.output(rows), rtol=1e-12, atol=1e-9
    )
    np.testing.assert_allclose(
        outputs["output"], model.predict(rows), rtol=1e-12, atol=1e-9
    )
    properties = {entry.key: entry.value for entry in proto.metadata_props}
    assert properties["chainrule.targets_standardized"] == "true"


def test_export_command_on_a_trained_regression_model(tmp_path, capsys):
    # diabetes: `chainrule train` standardizes the targets (mean ~152).
    run_dir = tmp_path / "run"
    arguments = ["train", "--data", "diabetes", "--hidden", "8", "--epochs", "2"]
    assert main([*arguments, "--quiet", "--out", str(run_dir)]) == 0
    model = load(run_dir / "model.npz")
    assert model.target_mean is not None

    target = tmp_path / "diabetes.onnx"
    assert main(["export", str(run_dir / "model.npz"), "-o", str(target)]) == 0
    assert "in the targets' units" in capsys.readouterr().out

    from sklearn.datasets import load_diabetes

    rows = load_diabetes().data.astype(np.float32)
    outputs = run_graph(onnx.load(str(target)), rows)
    # Float32 graph against chainrule's float64 statistics: float32
    # rounding of values ~100 (1e-5 relative, 1e-3 absolute).
    np.testing.assert_allclose(
        outputs["output"], model.predict(rows), rtol=1e-5, atol=1e-3
    )
    assert abs(float(outputs["output"].mean()) - 152.0) < 50.0


@pytest.mark.parametrize("opset", [13, 17, onnx.defs.onnx_opset_version()])
def test_every_accepted_opset_loads_in_onnxruntime(opset):
    network = make_network([3, 4, 2], np.float64)
    proto = to_onnx(network, opset=opset)
    rows = np.random.default_rng(7).normal(size=(5, 3))
    np.testing.assert_allclose(
        run_graph(proto, rows)["output"],
        network.predict(rows.T).T,
        rtol=1e-12,
        atol=1e-12,
    )


def test_opset_newer_than_onnx_knows_is_refused():
    newest = onnx.defs.onnx_opset_version()
    with pytest.raises(ValueError, match=f"from 13 to {newest}"):
        to_onnx(make_network([2, 2], np.float64), opset=newest + 1)


def test_graph_takes_any_batch_size():
    network = make_network([4, 5, 2], np.float32)
    proto = to_onnx(network)
    for n_rows in (1, 3, 257):
        rows = np.ones((n_rows, 4), dtype=np.float32)
        assert run_graph(proto, rows)["output"].shape == (n_rows, 2)


def test_save_onnx_writes_a_loadable_file(tmp_path):
    network = make_network([4, 5, 2], np.float64)
    path = tmp_path / "net.onnx"
    save_onnx(network, path, opset=13)
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 13
    rows = np.random.default_rng(5).normal(size=(8, 4))
    np.testing.assert_allclose(
        run_graph(proto, rows)["output"],
        network.predict(rows.T).T,
        rtol=1e-12,
        atol=1e-12,
    )


def test_export_command_on_a_trained_model_file(tmp_path, capsys):
    # A real model file from `chainrule train`: iris, standardized inputs,
    # string class names, float32.
    run_dir = tmp_path / "run"
    status = main(
        [
            "train",
            "--data",
            "iris",
            "--hidden",
            "8",
            "--epochs",
            "3",
            "--quiet",
            "--out",
            str(run_dir),
        ]
    )
    assert status == 0
    capsys.readouterr()
    model = load(run_dir / "model.npz")
    assert model.input_mean is not None

    target = tmp_path / "iris.onnx"
    assert main(["export", str(run_dir / "model.npz"), "-o", str(target)]) == 0
    printed = capsys.readouterr().out
    assert "with input standardization" in printed
    # For a classifier, "output" is f_K, the logits, not what predict prints.
    assert "outputs: output (logits), probabilities" in printed

    proto = onnx.load(str(target))
    from sklearn.datasets import load_iris

    rows = load_iris().data.astype(np.float32)
    outputs = run_graph(proto, rows)
    np.testing.assert_allclose(
        outputs["probabilities"], model.predict_proba(rows), rtol=1e-5, atol=1e-6
    )


def test_export_command_errors_are_one_line(tmp_path, capsys):
    network = make_network([2, 3, 1], np.float32)
    model_path = tmp_path / "model.npz"
    save(model_path, Model(network=network, loss="least-squares", task="regression"))

    assert main(["export", str(tmp_path / "missing.npz"), "-o", "x.onnx"]) == 1
    assert main(["export", str(model_path), "-o", str(tmp_path / "x.pt")]) == 2
    # A missing folder is a file error, as for predict -o (exit 1).
    assert main(["export", str(model_path), "-o", str(tmp_path / "no/x.onnx")]) == 1
    assert main(["export", str(model_path), "-o", "x.onnx", "--opset", "9"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4
    assert "no such model file" in errors[0]
    assert ".onnx" in errors[1]
    assert "does not exist" in errors[2]
    assert "13 or later" in errors[3]
    assert not (tmp_path / "x.pt").exists()


def test_export_command_refuses_unknown_opset_and_folder_output(tmp_path, capsys):
    network = make_network([2, 3, 1], np.float32)
    model_path = tmp_path / "model.npz"
    save(model_path, Model(network=network, loss="least-squares", task="regression"))
    folder = tmp_path / "d.onnx"
    folder.mkdir()

    target = tmp_path / "x.onnx"
    assert main(["export", str(model_path), "-o", str(target), "--opset", "99"]) == 2
    assert main(["export", str(model_path), "-o", str(folder)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2
    newest = onnx.defs.onnx_opset_version()
    assert f"from 13 to {newest}" in errors[0]
    assert "got 99" in errors[0]
    assert "is a folder" in errors[1] or "that is a folder" in errors[1]
    assert not target.exists()


def test_export_help_has_no_markup(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "``" not in capsys.readouterr().out


def test_export_command_without_onnx_says_how_to_install(tmp_path, capsys, monkeypatch):
    import chainrule.cli.export as export

    network = make_network([2, 3, 1], np.float32)
    model_path = tmp_path / "model.npz"
    save(model_path, Model(network=network, loss="least-squares", task="regression"))

    real_find_spec = export.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "onnx" else real_find_spec(name, *args)

    monkeypatch.setattr(export.importlib.util, "find_spec", find_spec)
    target = tmp_path / "x.onnx"
    assert main(["export", str(model_path), "-o", str(target)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "pip install onnx" in error
    assert not target.exists()

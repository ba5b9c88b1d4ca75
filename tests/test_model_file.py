"""Model files: bit-for-bit round trips and a one-line error for every bad file."""

import json
import os
import zipfile

import numpy as np
import pytest

from chainrule import Network
from chainrule.model_file import Model, ModelFileError, load, save


def _model(dtype=np.float32, **options):
    rng = np.random.default_rng(0)
    network = Network.initialize(
        [4, 6, 5, 3], rng, dtype=dtype, relu_derivative_at_zero=0.0
    )
    # Non-zero biases, so that β round trips are tested too.
    network.parameters[...] = rng.normal(size=network.parameters.shape)
    defaults = dict(
        network=network,
        loss="cross-entropy",
        task="classification",
        classes=["setosa", "versicolor", "virginica"],
        input_mean=rng.normal(size=4),
        input_std=rng.uniform(0.5, 2.0, size=4),
        metadata={"data": "iris", "seed": 0},
        feature_names=["a", "b", "c", "d"],
    )
    defaults.update(options)
    return Model(**defaults)


def _saved(tmp_path, **options):
    path = tmp_path / "model.npz"
    save(path, _model(**options))
    return path


def _arrays(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _header(arrays):
    return json.loads(arrays["header"].tobytes().decode())


def _rewrite(path, arrays, header=None):
    if header is not None:
        text = json.dumps(header).encode()
        arrays["header"] = np.frombuffer(text, dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_for_bit(tmp_path, dtype):
    model = _model(dtype=dtype, target_mean=None)
    path = tmp_path / "m.npz"
    save(path, model)
    loaded = load(path)
    assert loaded.network.dtype == dtype
    assert loaded.network.parameters.tobytes() == model.network.parameters.tobytes()
    assert loaded.network.sizes == [4, 6, 5, 3]
    assert loaded.network.relu_derivative_at_zero == 0.0
    assert loaded.classes == model.classes
    assert loaded.input_mean.tobytes() == model.input_mean.tobytes()
    assert loaded.input_std.tobytes() == model.input_std.tobytes()
    assert loaded.metadata == model.metadata
    assert loaded.feature_names == ["a", "b", "c", "d"]
    assert (loaded.loss, loaded.task) == ("cross-entropy", "classification")
    rows = np.random.default_rng(1).normal(size=(7, 4))
    np.testing.assert_array_equal(loaded.output(rows), model.output(rows))
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))


def test_regression_round_trip_with_target_statistics(tmp_path):
    rng = np.random.default_rng(2)
    network = Network.initialize([3, 4, 2], rng, dtype=np.float64)
    model = Model(
        network=network,
        loss="least-squares",
        task="regression",
        target_mean=np.array([150.0, -2.0]),
        target_std=np.array([75.0, 0.5]),
        label_names=["y1", "y2"],
    )
    save(tmp_path / "r.npz", model)
    loaded = load(tmp_path / "r.npz")
    rows = rng.normal(size=(5, 3))
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    assert loaded.classes is None and loaded.input_mean is None
    assert loaded.label_names == ["y1", "y2"]


def test_integer_classes_and_binary_labels(tmp_path):
    rng = np.random.default_rng(3)
    network = Network.initialize([2, 3, 1], rng)
    model = Model(network, "binary-cross-entropy", classes=[3, 7])
    save(tmp_path / "b.npz", model)
    loaded = load(tmp_path / "b.npz")
    assert loaded.classes == [3, 7]
    predicted = loaded.predict(rng.normal(size=(6, 2)))
    assert set(predicted) <= {3, 7} and predicted.shape == (6,)


def test_unjsonable_metadata_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="metadata must hold plain"):
        save(tmp_path / "m.npz", _model(metadata={"bad": object()}))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_bytes()

    def interrupted(handle, **arrays):
        handle.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(path, _model(classes=["x", "y", "z"]))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_bytes(path):
    # Damage the middle of the first weight matrix's data: the zip CRC no
    # longer matches.
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("omega_0.npy")
    start = info.header_offset + 30 + len(info.filename) + 200
    for i in range(start, start + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_header(**changes):
    def edit(path):
        arrays = _arrays(path)
        header = _header(arrays)
        for key, value in changes.items():
            if value is KeyError:
                del header[key]
            else:
                header[key] = value
        _rewrite(path, arrays, header)

    return edit


def _edit_arrays(edit_arrays):
    def edit(path):
        arrays = _arrays(path)
        edit_arrays(arrays)
        _rewrite(path, arrays)

    return edit


def _nan_weight(arrays):
    arrays["omega_1"] = arrays["omega_1"].copy()
    arrays["omega_1"][2, 3] = np.nan


def _unchained(arrays):
    arrays["omega_1"] = np.zeros((5, 7), np.float32)


def _wrong_dtype(arrays):
    arrays["beta_0"] = arrays["beta_0"].astype(np.float64)


def _object_array(arrays):
    arrays["omega_0"] = np.array([{"a": 1}], dtype=object)


BAD_FILES = {
    "truncated": (_truncate, "truncated or corrupted"),
    "corrupted": (_flip_bytes, "truncated or corrupted"),
    "empty": (lambda p: p.write_bytes(b""), "truncated or corrupted"),
    "text": (lambda p: p.write_text("hello\n"), "truncated or corrupted"),
    "pickled object array": (_edit_arrays(_object_array), "truncated or corrupted"),
    "other npz": (
        lambda p: np.savez(p, x=np.zeros(3)),
        "not a chainrule model file .no header",
    ),
    "wrong format": (_edit_header(format="other"), "not a chainrule model file"),
    "wrong version": (_edit_header(format_version=2), "version 2 is not supported"),
    "no sizes": (_edit_header(sizes=KeyError), "no 'sizes' entry"),
    "sizes not a list": (_edit_header(sizes="4,6"), "'sizes' must be a list"),
    "sizes disagree": (_edit_header(sizes=[4, 6, 5, 4]), "give sizes"),
    "extra layer in header": (
        _edit_header(sizes=[4, 6, 5, 3, 2]),
        "'omega_3' is missing",
    ),
    "unknown loss": (_edit_header(loss="hinge"), "'loss' must be one of"),
    "loss not a string": (_edit_header(loss=["x"]), "'loss' must be one of"),
    "bad task": (_edit_header(task="ranking"), "'task' must be one of"),
    "bad relu": (_edit_header(relu_derivative_at_zero=2), r"in \[0, 1\]"),
    "bad dtype": (_edit_header(dtype="int8"), "'dtype' must be"),
    "dtype disagrees": (_edit_header(dtype="float64"), "has dtype float32"),
    "too few classes": (_edit_header(classes=["a", "b"]), "2 class labels"),
    "repeated classes": (_edit_header(classes=["a", "a", "b"]), "repeat"),
    "classes not labels": (_edit_header(classes=[1.5, 2, 3]), "'classes' must"),
    "standardized flag missing arrays": (
        _edit_header(targets_standardized=True),
        "'target_mean' is missing",
    ),
    "metadata not an object": (_edit_header(metadata=[1]), "'metadata' must"),
    "header not json": (
        _edit_arrays(
            lambda a: a.update(header=np.frombuffer(b"{nope", dtype=np.uint8))
        ),
        "not valid JSON",
    ),
    "header not bytes": (
        _edit_arrays(lambda a: a.update(header=np.zeros(3))),
        "1-D uint8 array",
    ),
    "NaN weight": (_edit_arrays(_nan_weight), "Ω_1 contains NaN"),
    "shapes do not chain": (_edit_arrays(_unchained), "do not chain at layer 1"),
    "array dtype": (_edit_arrays(_wrong_dtype), "'beta_0' has dtype float64"),
    "missing array": (_edit_arrays(lambda a: a.pop("beta_2")), "'beta_2' is missing"),
    "extra array": (
        _edit_arrays(lambda a: a.update(omega_x=np.zeros(2))),
        "unexpected arrays",
    ),
    "zero std": (
        _edit_arrays(lambda a: a.update(input_std=np.zeros(4))),
        "input_std must be positive",
    ),
    "NaN mean": (
        _edit_arrays(lambda a: a.update(input_mean=np.full(4, np.nan))),
        "input_mean has NaN",
    ),
    "wrong mean shape": (
        _edit_arrays(lambda a: a.update(input_mean=np.zeros(5))),
        r"input_mean must be float64 of shape \(4,\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gives_one_line_naming_the_file(tmp_path, case):
    damage, pattern = BAD_FILES[case]
    path = _saved(tmp_path)
    damage(path)
    with pytest.raises(ModelFileError, match=pattern) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load(tmp_path / "absent.npz")
    with pytest.raises(ModelFileError, match="is a folder"):
        load(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path):
    path = _saved(tmp_path)
    path.chmod(0)
    with pytest.raises(ModelFileError, match="permission denied"):
        load(path)

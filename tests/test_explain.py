"""The explain report: its numbers are the library's, its claims hold.

Tolerances: quantities the report recomputes in float64 must equal the
library's to 1e-12 (the same operations in the same order, so in practice
exactly); numbers read back from rendered text are compared to the
printed precision (half a unit in the last decimal shown).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule.network
from chainrule.cli import main
from chainrule.explain import (
    build_report,
    default_example,
    render_html,
    render_markdown,
    render_terminal,
    use_colour,
)
from chainrule.explain.blocks import Numbers, Operand, format_number
from chainrule.losses import get_loss

ATOL = 1e-12
LOSSES = ["least-squares", "binary-cross-entropy", "cross-entropy"]


@pytest.fixture(scope="module")
def report():
    network, x, y = default_example(seed=0)
    return build_report(network, x, y, "least-squares")


def library_values(report):
    network = report.network
    loss = get_loss(report.loss_name)
    trace = network.forward(report.x)
    grads = network.backward(trace, loss.gradient(trace.output, report.y))
    return trace, grads


def test_report_numbers_equal_forward_and_backward(report):
    trace, grads = library_values(report)
    for k, f in enumerate(trace.f):
        np.testing.assert_allclose(report.forward["f"][k], f, rtol=0, atol=ATOL)
    for k, h in enumerate(trace.h):
        np.testing.assert_allclose(report.forward["h"][k], h, rtol=0, atol=ATOL)
    backward = report.backward
    for k in range(len(grads.omega)):
        np.testing.assert_allclose(backward["dl_df"][k], grads.dl_df[k], atol=ATOL)
        np.testing.assert_allclose(backward["dl_domega"][k], grads.omega[k], atol=ATOL)
        np.testing.assert_allclose(backward["dl_dbeta"][k], grads.beta[k], atol=ATOL)
    assert report.passed, [c.text for c in report.checks if not c.passed]


def test_operands_shown_are_the_library_arrays(report):
    """Every operand labelled f_k, h_k, ∂ℓ/∂f_k, ∂ℓ/∂Ω_k holds the library's."""
    trace, grads = library_values(report)
    expected = {}
    for k, f in enumerate(trace.f):
        expected[f"f_{k}"] = f
        expected[f"∂ℓ/∂f_{k}"] = grads.dl_df[k]
        expected[f"∂ℓ/∂Ω_{k}"] = grads.omega[k]
        expected[f"Ω_{k}"] = report.network.omega[k]
        expected[f"β_{k}"] = report.network.beta[k]
    for k, h in enumerate(trace.h):
        expected[f"h_{k}"] = h
        expected[f"h_{k}ᵀ"] = h.T
    seen = set()
    for section in report.sections:
        for block in section.blocks:
            if not isinstance(block, Numbers):
                continue
            for item in block.items:
                if isinstance(item, Operand) and item.label in expected:
                    np.testing.assert_allclose(
                        item.value, expected[item.label], rtol=0, atol=ATOL
                    )
                    seen.add(item.label)
    shown = {"f_0", "f_3", "h_1", "h_3", "h_0ᵀ", "∂ℓ/∂f_0", "∂ℓ/∂f_3"}
    shown |= {"∂ℓ/∂Ω_0", "∂ℓ/∂Ω_3", "Ω_0", "β_3"}
    assert shown <= seen, shown - seen


def test_printed_numbers_match_the_library_to_the_decimals_shown(report):
    decimals = 6
    text = render_terminal(report, decimals=decimals)
    printed = set(re.findall(r"-?\d+\.\d{6}\b", text))
    trace, grads = library_values(report)
    arrays = [*trace.f, *trace.h[1:], *grads.dl_df, *grads.omega, *grads.beta]
    for array in arrays:
        for value in np.ravel(array):
            assert format_number(float(value), decimals) in printed, value
    # The loss value is quoted in the loss section.
    loss_text = format_number(report.loss_value, 4)
    assert f"= {loss_text}" in render_terminal(report)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("at_zero", [1.0, 0.0])
def test_every_check_holds_for_each_loss(loss, at_zero):
    network, x, y = default_example(seed=3, loss=loss, relu_derivative_at_zero=at_zero)
    report = build_report(network, x, y, loss)
    assert report.checks, "the report checks nothing"
    assert report.passed, [c.text for c in report.checks if not c.passed]
    assert report.finite_difference.max_rel_error < 1e-5


def test_pointwise_and_matrix_forms_agree_with_their_counts(report):
    forms = report.forms
    np.testing.assert_allclose(
        forms["left_to_right"], forms["pointwise"], rtol=0, atol=ATOL
    )
    np.testing.assert_allclose(
        forms["right_to_left"], forms["pointwise"], rtol=0, atol=ATOL
    )
    np.testing.assert_allclose(
        forms["pointwise"], report.backward["dl_df"][0], rtol=0, atol=ATOL
    )
    # 3-4-4-4-2: (c) Ω_kᵀ products 4·2 + 4·4 + 4·4 = 40, indicators 3·4 = 12;
    # (b) adds the 4×4 diagonals as matrices, 3·16 = 48, instead of 12;
    # (a) five 4×4 by 4×4 (or 4×2) products: 4·64 + 32, then 4·2·1 = 8.
    assert forms["counts"]["c"][0] == 52
    assert forms["counts"]["b"][0] == 88
    assert forms["counts"]["a"][0] == 296


def test_a_wrong_backward_is_caught(monkeypatch):
    """The finite-difference check fails when backprop is wrong."""
    original = chainrule.network.Network.backward

    def wrong_backward(self, trace, dl_df, input_gradient=False):
        grads = original(self, trace, dl_df, input_gradient)
        grads.omega[1] = grads.omega[1] * 1.01
        return grads

    monkeypatch.setattr(chainrule.network.Network, "backward", wrong_backward)
    network, x, y = default_example(seed=0)
    report = build_report(network, x, y, "least-squares")
    assert not report.finite_difference.passed
    assert not report.passed


def test_a_confident_correct_network_passes_the_finite_difference_check():
    """Gradients far below finite-difference noise are judged absolutely.

    A logit margin of 15 makes ∂ℓ/∂θ about 1e-7 and smaller, as on a
    well-trained model; a fixed relative-error floor of 1e-8 reported
    errors of 2e-3 here. The check uses chainrule.verification's
    tolerance instead: rtol 1e-6 with floor atol / rtol.
    """
    network, x, y = default_example(seed=0, loss="cross-entropy")
    network.beta[-1][...] = 0.0
    network.beta[-1][int(y[0]), 0] = 15.0
    report = build_report(network, x, y, "cross-entropy")
    assert report.passed, [c.text for c in report.checks if not c.passed]
    assert report.finite_difference.rtol == 1e-6
    assert report.finite_difference.max_rel_error <= 1e-6


def test_a_failed_finite_difference_check_reads_as_a_failure(monkeypatch):
    original = chainrule.network.Network.backward

    def wrong_backward(self, trace, dl_df, input_gradient=False):
        grads = original(self, trace, dl_df, input_gradient)
        grads.beta[0] = grads.beta[0] * 1.5
        return grads

    monkeypatch.setattr(chainrule.network.Network, "backward", wrong_backward)
    network, x, y = default_example(seed=0)
    report = build_report(network, x, y, "least-squares")
    text = report.checks[-1].text
    assert not report.checks[-1].passed
    assert "> tolerance" in text and text.endswith("FAIL")
    assert "≤" not in text and "does not match" in text


def test_terminal_fits_80_columns_and_colours_only_when_asked(report):
    plain = render_terminal(report)
    assert max(len(line) for line in plain.splitlines()) <= 80
    assert "\033[" not in plain
    coloured = render_terminal(report, colour=True)
    assert "\033[" in coloured
    stripped = re.sub(r"\033\[[0-9;]*m", "", coloured)
    assert stripped == plain


def test_use_colour_respects_no_color_and_non_terminals(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_colour(Terminal())
    assert not use_colour(Pipe())
    assert use_colour(Pipe(), "always")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Terminal())
    assert not use_colour(Terminal(), "never")


def test_markdown_has_sections_and_fenced_maths(report):
    text = render_markdown(report)
    assert text.startswith("# ")
    for title in ("## Forward pass", "## Backward pass 1", "## Backward pass 2"):
        assert title in text
    assert text.count("```text") == text.count("```") // 2
    assert "⊙" in text


def test_html_is_self_contained_mathml(report):
    text = render_html(report)
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower()
    assert "http://" not in text and "https://" not in text
    assert "@import" not in text and "url(" not in text
    assert text.count("<math") == text.count("</math>") > 20
    assert "<mfrac>" in text and "<mtable" in text


def test_large_matrices_are_elided():
    network, x, y = default_example(seed=0, sizes=(12, 30, 2))
    report = build_report(network, x, y, "least-squares")
    text = render_terminal(report)
    assert "…" in text and "⋮" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert report.passed


def test_cli_explain_default_and_files(tmp_path, capsys):
    assert main(["explain", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "Backward pass 1" in out and "\033[" not in out
    page = tmp_path / "explain.html"
    assert main(["explain", "--format", "html", "-o", str(page)]) == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    notes = tmp_path / "explain.md"
    assert main(["explain", "--format", "markdown", "-o", str(notes)]) == 0
    assert "## Forward pass" in notes.read_text(encoding="utf-8")


def test_cli_explain_a_saved_model_on_a_data_row(tmp_path, capsys):
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(6, 3))
    labels = ["cat", "dog", "cat", "dog", "cat", "dog"]
    csv = tmp_path / "pets.csv"
    lines = ["a,b,c,label"] + [
        ",".join(f"{v:.6f}" for v in row) + f",{label}"
        for row, label in zip(rows, labels, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    network = Network.initialize([3, 4, 4, 2], rng, dtype=np.float64)
    model = Model(network=network, loss="cross-entropy", classes=["cat", "dog"])
    save(tmp_path / "model.npz", model)

    status = main(
        [
            "explain",
            "--model",
            str(tmp_path / "model.npz"),
            "--data",
            str(csv),
            "--row",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "cross-entropy" in out and "line 3" in out
    # Row 1 is a "dog": class id 1 in the model's classes.
    assert "Target: class y = 1." in out

    assert main(["explain", "--data", str(csv), "--row", "9"]) == 2
    assert "past the end" in capsys.readouterr().err


def test_cli_explain_puts_regression_targets_in_the_trained_units(tmp_path, capsys):
    """A model trained on standardized targets is explained in those units.

    y = (120.5 − 100) / 10 = 2.05, and the loss shown is (f_1 − 2.05)², not
    (f_1 − 120.5)².
    """
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(1)
    rows = rng.normal(size=(4, 3))
    targets = [90.5, 120.5, 105.5, 80.5]
    csv = tmp_path / "houses.csv"
    lines = ["a,b,c,price"] + [
        ",".join(f"{v:.6f}" for v in row) + f",{target}"
        for row, target in zip(rows, targets, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    network = Network.initialize([3, 4, 1], rng, dtype=np.float64)
    model = Model(
        network=network,
        loss="least-squares",
        task="regression",
        target_mean=np.array([100.0]),
        target_std=np.array([10.0]),
    )
    save(tmp_path / "model.npz", model)

    arguments = ["explain", "--model", str(tmp_path / "model.npz")]
    status = main([*arguments, "--data", str(csv), "--row", "1", "--color", "never"])
    out = capsys.readouterr().out
    assert status == 0
    prose = " ".join(out.split())
    assert "standardized targets" in prose
    assert "(120.5000 − 100.0000) / 10.0000 = 2.0500" in prose

    f_1 = network.forward(rows[1][:, None]).output[0, 0]
    expected_loss = (f_1 - 2.05) ** 2
    shown = re.search(r"ℓ = .*= (-?\d+\.\d+)", out)
    # Printed with 4 decimals: half a unit in the last decimal.
    assert abs(float(shown.group(1)) - expected_loss) <= 5e-5


def test_cross_entropy_with_one_output_is_refused(capsys):
    # Softmax over one output is 1 whatever f is: the gradient is always 0.
    arguments = ["explain", "--loss", "cross-entropy", "--outputs", "1"]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "at least 2 outputs" in error

    network, x, _ = default_example(seed=0, sizes=(3, 4, 1))
    with pytest.raises(ValueError, match="at least 2 outputs"):
        build_report(network, x, np.array([0]), "cross-entropy")


def test_cli_explain_takes_several_label_columns(tmp_path, capsys):
    """--label-column l1,l2 names two columns, as for chainrule train."""
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(2)
    rows = rng.normal(size=(5, 3))
    labels = (rows[:, :2] > 0).astype(int)
    csv = tmp_path / "tags.csv"
    lines = ["a,b,c,l1,l2"] + [
        ",".join(f"{v:.6f}" for v in row) + f",{pair[0]},{pair[1]}"
        for row, pair in zip(rows, labels, strict=True)
    ]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    network = Network.initialize([3, 4, 2], rng, dtype=np.float64)
    model = Model(network=network, loss="binary-cross-entropy", task="multilabel")
    save(tmp_path / "model.npz", model)

    arguments = ["explain", "--model", str(tmp_path / "model.npz"), "--data"]
    arguments += [str(csv), "--label-column", "l1,l2", "--row", "2"]
    assert main([*arguments, "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "binary-cross-entropy" in out
    # The target is row 2's two labels, shown as a 2×1 column.
    targets = re.findall(r"[⎡⎣] (\d\.0000) [⎤⎦]", out)
    assert targets[:2] == [f"{v}.0000" for v in labels[2]]


def _write_csv(path, header, rows):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_cli_explain_reads_the_label_columns_the_model_recorded(tmp_path, capsys):
    """Without --label-column, the training file's labels are the model's.

    chainrule evaluate reads the training data with the label columns the
    model's metadata records; explain must read them the same way, not
    take the last column as the only label (6 features for a 4-feature
    model).
    """
    from chainrule.cli.evaluate import file_sha256
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(3)
    rows = np.round(rng.normal(size=(5, 4)), 4)
    labels = (rows[:, :3] > 0).astype(int)
    csv = tmp_path / "tags.csv"
    header = ["a", "b", "c", "d", "l1", "l2", "l3"]
    _write_csv(csv, header, np.hstack([rows, labels]).tolist())
    network = Network.initialize([4, 5, 3], rng, dtype=np.float64)
    metadata = {"label_column": "l1,l2,l3", "data_sha256": file_sha256(csv)}
    model = Model(
        network=network,
        loss="binary-cross-entropy",
        task="multilabel",
        metadata=metadata,
        label_names=["l1", "l2", "l3"],
    )
    save(tmp_path / "model.npz", model)

    arguments = ["explain", "--model", str(tmp_path / "model.npz")]
    arguments += ["--data", str(csv), "--row", "1", "--color", "never"]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    # The target is row 1's three labels (the 1.0/0.0 of l1, l2, l3),
    # shown as a 3×1 column.
    targets = re.findall(r"[⎡⎢⎣] (\d\.0000) [⎤⎥⎦]", out)
    assert targets[:3] == [f"{v}.0000" for v in labels[1]]


def test_cli_explain_says_a_features_only_file_lacks_its_label(tmp_path, capsys):
    """A file of the model's 3 features is missing its label, not a feature."""
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(4)
    csv = tmp_path / "features.csv"
    _write_csv(csv, ["p", "q", "r"], np.round(rng.normal(size=(4, 3)), 4).tolist())
    network = Network.initialize([3, 4, 2], rng, dtype=np.float64)
    model = Model(network=network, loss="cross-entropy", classes=["cat", "dog"])
    save(tmp_path / "model.npz", model)

    arguments = ["explain", "--model", str(tmp_path / "model.npz")]
    assert main([*arguments, "--data", str(csv)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "no label column" in error
    assert "2 feature" not in error


@pytest.mark.parametrize(
    ("options", "with_data", "flag"),
    [
        (["--hidden", "3"], True, "--hidden"),
        (["--inputs", "3"], False, "--inputs"),
        (["--outputs", "2"], True, "--outputs"),
        (["--loss", "least-squares"], True, "--loss"),
        (["--relu-at-zero", "0"], False, "--relu-at-zero"),
        (["--seed", "1"], True, "--seed"),
    ],
)
def test_cli_explain_refuses_network_options_with_a_model(
    tmp_path, capsys, options, with_data, flag
):
    """Options for a new network would be ignored with --model: exit 2."""
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(5)
    csv = tmp_path / "pets.csv"
    _write_csv(csv, ["a", "b", "c", "label"], [[0.1, 0.2, 0.3, "cat"]])
    network = Network.initialize([3, 4, 2], rng, dtype=np.float64)
    model = Model(network=network, loss="cross-entropy", classes=["cat", "dog"])
    save(tmp_path / "model.npz", model)

    arguments = ["explain", "--model", str(tmp_path / "model.npz")]
    if with_data:
        arguments += ["--data", str(csv)]
    assert main([*arguments, "--color", "never"]) == 0
    capsys.readouterr()
    assert main([*arguments, *options]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert flag in error


@pytest.mark.parametrize(
    ("arguments", "flag"),
    [
        (["--data", "iris", "--inputs", "4"], "--inputs"),
        (["--data", "iris", "--outputs", "3"], "--outputs"),
        (["--row", "2"], "--row"),
        (["--label-column", "label"], "--label-column"),
    ],
)
def test_cli_explain_refuses_options_that_would_be_ignored(capsys, arguments, flag):
    assert main(["explain", *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert flag in error


def test_cli_explain_a_one_hot_least_squares_model(tmp_path, capsys):
    """Least squares on classes: y is the class's one-hot vector, as in training."""
    from chainrule.model_file import Model, save
    from chainrule.network import Network

    rng = np.random.default_rng(6)
    csv = tmp_path / "pets.csv"
    rows = [[0.1, 0.2, 0.3, "cat"], [0.4, -0.5, 0.6, "dog"]]
    _write_csv(csv, ["a", "b", "c", "label"], rows)
    network = Network.initialize([3, 4, 2], rng, dtype=np.float64)
    model = Model(
        network=network,
        loss="least-squares",
        task="classification",
        classes=["cat", "dog"],
    )
    save(tmp_path / "model.npz", model)

    arguments = ["explain", "--model", str(tmp_path / "model.npz"), "--data"]
    assert main([*arguments, str(csv), "--row", "1", "--color", "never"]) == 0
    out = capsys.readouterr().out
    # Row 1 is a "dog", class 1 of 2: y = (0, 1).
    targets = re.findall(r"[⎡⎣] (\d\.0000) [⎤⎦]", out)
    assert targets[:2] == ["0.0000", "1.0000"]

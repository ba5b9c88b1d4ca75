"""The initialization study: growth above He's 2/D_h, decay below it.

A seeded 12-layer, 40-unit network keeps the test fast. The std of h_k
changes by about √(σ²_Ω D_h / 2) per layer, so over 11 layers a factor
of 2 in σ²_Ω multiplies it by about 2^5.5 ≈ 45 and a factor ½ divides it
by as much; the bounds below (×8 and ÷8) leave room for the random
draws.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.diagnostic_plots import plot_init_study
from chainrule.init_study import format_table, run_init_study

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study():
    return run_init_study(n_layers=12, width=40, variances=None, n_examples=300, rng=0)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return len(data), width, height


def test_activations_explode_above_he_and_vanish_below(study):
    factors = list(study.factors)
    assert factors == pytest.approx([0.5, 0.8, 1.0, 1.25, 2.0], rel=1e-12)
    growth = study.h_std[:, -1] / study.h_std[:, 0]
    below, he, above = growth[0], growth[2], growth[4]
    assert above > 8
    assert below < 1 / 8
    assert 1 / 4 < he < 4
    # More variance, more growth, layer after layer.
    assert np.all(np.diff(growth) > 0)


def test_gradients_explode_above_he_and_vanish_below(study):
    # Backward pass 1 runs from f_K down to f_0.
    growth = study.dl_df_std[:, 0] / study.dl_df_std[:, -1]
    assert growth[4] > 8
    assert growth[0] < 1 / 8
    assert 1 / 4 < growth[2] < 4


def test_study_is_seeded(study):
    again = run_init_study(n_layers=12, width=40, n_examples=300, rng=0)
    np.testing.assert_array_equal(again.h_std, study.h_std)
    np.testing.assert_array_equal(again.dl_df_std, study.dl_df_std)


def test_table_lists_layers_and_variances(study):
    table = format_table(study, every=4)
    assert "std of h_k" in table and "std of ∂ℓ/∂f_k" in table
    assert "2·2/D_h" in table
    # Layers 1, 5, 9 and the last, 12, for h_k.
    rows = [line.split()[0] for line in table.splitlines() if line[:4].strip()]
    assert {"1", "5", "9", "12"} <= set(rows)


def test_plot_is_a_png_of_sensible_size(study, tmp_path):
    path = tmp_path / "init.png"
    plot_init_study(study, path)
    n_bytes, width, height = png_size(path)
    assert 10_000 < n_bytes < 2_000_000
    assert 600 <= width <= 2000 and 300 <= height <= 1200


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="positive"):
        run_init_study(n_layers=3, width=8, variances=[0.1, -1.0], n_examples=5)
    with pytest.raises(ValueError, match="n_layers"):
        run_init_study(n_layers=0)


def test_cli_prints_the_table_and_saves_the_plot(tmp_path, capsys):
    plot = tmp_path / "study.png"
    numbers = tmp_path / "study.json"
    status = main(
        [
            "init-study",
            "--layers",
            "6",
            "--width",
            "20",
            "--examples",
            "100",
            "--factors",
            "0.5,1,2",
            "--plot",
            str(plot),
            "--json",
            str(numbers),
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "std of h_k" in out and "0.5·2/D_h" in out
    png_size(plot)
    assert '"h_std"' in numbers.read_text(encoding="utf-8")


def test_overflow_warns_naming_the_variance_and_leaves_nan():
    # σ²_Ω = 1e300: weights of std 1e150 push f_1 past float64's range.
    with pytest.warns(RuntimeWarning, match=r"σ²_Ω = 1e\+300") as caught:
        study = run_init_study(
            n_layers=4, width=10, variances=[1e300, 0.2], n_examples=20, rng=0
        )
    assert len(caught) == 1
    assert study.overflow[0] is not None and study.overflow[1] is None
    assert np.all(np.isnan(study.dl_df_std[0]))
    assert np.isnan(study.h_std[0, -1])
    # The other variance is untouched.
    assert np.all(np.isfinite(study.h_std[1])) and np.all(study.h_std[1] > 0)
    assert study.to_dict()["h_std"][0][-1] is None


def test_cli_warns_on_overflow(tmp_path, capsys):
    arguments = ["init-study", "--layers", "4", "--width", "10", "--examples"]
    arguments += ["20", "--variances", "1e300", "--no-plot"]
    with pytest.warns(RuntimeWarning, match=r"σ²_Ω = 1e\+300"):
        assert main(arguments) == 0
    assert "nan" in capsys.readouterr().out


@pytest.mark.parametrize(
    "plot, message, status",
    [
        # A missing folder is a file error (1), the others usage errors (2).
        ("missing/x.png", "does not exist", 1),
        ("x.txt", "ending in .png", 2),
        ("folder.png", "is a folder", 2),
    ],
)
def test_cli_refuses_a_bad_plot_path_before_computing(
    tmp_path, capsys, monkeypatch, plot, message, status
):
    import chainrule.init_study

    (tmp_path / "folder.png").mkdir()

    def never(**options):
        raise AssertionError("the study ran before the plot path was checked")

    monkeypatch.setattr(chainrule.init_study, "run_init_study", never)
    assert main(["init-study", "--plot", str(tmp_path / plot)]) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert message in captured.err
    assert not (tmp_path / "x.txt").exists()


def test_cli_plot_and_no_plot_are_exclusive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["init-study", "--plot", "x.png", "--no-plot"])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_plot_legend_uses_mathtext(study, tmp_path, monkeypatch):
    # σ²_Ω is set with mathtext, not written as the literal text "σ²_Ω".
    import matplotlib.figure

    labels = []
    original = matplotlib.figure.Figure.savefig

    def savefig(figure, *args, **kwargs):
        for axis in figure.axes:
            legend = axis.get_legend()
            if legend is not None:
                labels.extend(text.get_text() for text in legend.get_texts())
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    plot_init_study(study, tmp_path / "init.png")
    assert labels and all(r"$\sigma^2_\Omega" in label for label in labels)
    assert not any("σ²_Ω" in label for label in labels)

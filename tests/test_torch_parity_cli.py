"""``chainrule compare --reference torch`` from the command line."""

import json
import sys

import pytest

import chainrule.cli as cli

torch = pytest.importorskip(
    "torch", reason="PyTorch parity tests need torch==2.13.0 installed"
)


@pytest.fixture(autouse=True)
def only_these_subcommands(monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMANDS", ["gradcheck", "compare"])
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    "loss", ["least-squares", "binary-cross-entropy", "cross-entropy"]
)
def test_compare_agrees_and_says_so(capsys, loss):
    status, out, _ = _run(
        capsys,
        "compare",
        "--reference",
        "torch",
        "--loss",
        loss,
        "--sizes",
        "4,7,6,3",
        "--steps",
        "30",
    )

    assert status == 0
    assert "one pass: every quantity agrees" in out
    assert "training: the trajectories agree at every step" in out
    for name in ("f_0", "h_1", "∂ℓ/∂f_2", "∂ℓ/∂Ω_0", "∂ℓ/∂β_2"):
        assert f"\n{name} " in out


def test_compare_json(capsys):
    status, out, _ = _run(
        capsys, "compare", "--reference", "torch", "--steps", "10", "--json"
    )
    data = json.loads(out)

    assert status == 0
    assert data["agrees"] is True
    assert data["one_pass"]["first_disagreement"] is None
    assert data["trajectory"]["first_disagreeing_step"] is None
    assert len(data["trajectory"]["max_abs_differences"]) == 10


def test_an_impossible_tolerance_reports_the_first_disagreement(capsys):
    """Tolerances of 1e-30 cannot hold: the first quantity that differs at
    all is reported, and the exit status is 1."""
    status, out, _ = _run(
        capsys,
        "compare",
        "--reference",
        "torch",
        "--steps",
        "5",
        "--rtol",
        "1e-30",
        "--atol",
        "1e-30",
        "--trajectory-rtol",
        "1e-30",
        "--trajectory-atol",
        "1e-30",
    )
    assert status == 1
    assert "first disagreement: " in out
    assert "first disagreement: after step " in out


def test_without_torch_the_command_explains_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    status, _, err = _run(capsys, "compare", "--reference", "torch", "--steps", "1")
    assert status == 1
    assert "torch==2.13.0" in err


def test_the_reference_is_required(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare"])

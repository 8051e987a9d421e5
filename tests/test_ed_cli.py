"""`geomflow ed degree|table`: output contract and error handling."""

import json

import pytest

from geomflow.cli import main


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOMFLOW_CACHE", str(tmp_path / "cache"))


def test_degree_json(capsys):
    assert main(["ed", "degree", "--shape", "2x3", "--rank", "1", "--distance", "frobenius", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["closed_form"] == 2 and out["counted"] == 2


def test_degree_text_no_count(capsys):
    assert main(["ed", "degree", "--shape", "3x3", "--no-count"]) == 0
    text = capsys.readouterr().out
    assert "closed_form: 39" in text
    assert main(["ed", "degree", "--shape", "4x4", "--rank", "2", "--no-count"]) == 0
    assert "closed_form: none known" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["ed", "degree", "--shape", "3y3"], "--shape must look like MxN"),
        (["ed", "degree", "--shape", "3x3", "--rank", "4"], "--rank must satisfy"),
        (["ed", "degree", "--distance", "euclid"], "--distance must be one of"),
        (["ed", "table", "--samples", "0"], "--samples must be a positive integer"),
        (["ed", "table", "--distance", "hadamard", "--sampler", "gaussian", "--samples", "2"],
         "sampler for the hadamard distance must be one of"),
    ],
)
def test_bad_input_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "\n" not in err.strip()


def test_table_json_and_files(tmp_path, capsys):
    out_dir = tmp_path / "out"
    argv = ["ed", "table", "--shape", "2x3", "--distance", "frobenius", "--samples", "4",
            "--seed", "1", "--json", "--out", str(out_dir)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    # Eckart–Young: 2 critical points, both real, exactly one local minimum.
    assert out["table"] == {"1": {"2": 4}}
    assert out["samples"] == 4 and out["complete"] == 4 and out["incomplete"] == 0
    for name in ("table.json", "instances.csv", "table.png", "table.pdf"):
        assert (out_dir / name).stat().st_size > 0
    assert json.loads((out_dir / "table.json").read_text())["table"] == out["table"]

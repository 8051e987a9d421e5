"""`geomflow info` for LCNs and polynomial networks (issue 14, must-show 1)."""

from __future__ import annotations

import json

from geomflow.cli import main


def test_info_lcn_stride_one(capsys):
    assert main(["info", "--lcn", "2,2", "--strides", "1,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # k = (2, 2), stride 1: Σk − (L−1) = 3 = the ambient dimension (quadratics)
    assert (out["dim"], out["ambient_dim"], out["expected_dim"], out["defect"]) == (3, 3, 3, 0)
    assert out["exact_ranks"] == [3, 3] and out["numerical_rank"] == 3


def test_info_polynomial_alexander_hirschowitz(capsys):
    assert main(["info", "--polynomial", "3,5,1", "--power", "4"]) == 0
    text = capsys.readouterr().out
    assert "dim (exact)       14/14" in text and "expected dim      15" in text and "defect            1" in text


def test_info_2d_lcn(capsys):
    assert main(["info", "--lcn", "2x2,2x2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dim"], out["ambient_dim"]) == (7, 9)


def test_info_bad_input(capsys):
    assert main(["info", "--polynomial", "3,5,1"]) == 2  # --power missing
    assert main(["info", "--lcn", "2,a"]) == 2
    assert main(["info", "--lcn", "2,2", "--strides", "1"]) == 2
    assert main(["info", "--widths", "2,2", "--power", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("error") >= 4 and "Traceback" not in err

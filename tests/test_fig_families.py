"""The families experiment (experiments/fig_families.py) at its tiny size: the outputs exist and
the numbers meet the closed forms (Alexander–Hirschowitz defect; L − 1, hidden-neuron and
dim im δ law counts)."""

from __future__ import annotations

import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow
def test_fig_families_tiny(tmp_path):
    path = os.path.join(HERE, "..", "experiments", "fig_families.py")
    spec = importlib.util.spec_from_file_location("fig_families", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--tiny", "--out", str(tmp_path)])
    for ext in ("json", "csv", "png"):
        assert (tmp_path / f"families.{ext}").exists()
    dims = {r["model"]: r for r in res["polynomial_networks"]}
    ah = dims["polynomial network 3,5,1, r = 4"]
    assert (ah["dim"], ah["expected_dim"]) == (14, 15)
    laws = {r["model"]: r["num_laws"] for r in res["conservation_laws"]}
    assert laws["1-D LCN filters 2,2 strides 1,1"] == 1
    assert laws["polynomial network 2,2,1, r = 2"] == 2
    assert laws["linear network 2,2,2"] == 3  # dim im δ = dim Sym(2)

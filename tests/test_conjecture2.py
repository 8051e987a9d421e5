"""The Conjecture-2 cells (geomflow._conjecture2): the vertex-insertion search against the
complete enumeration of _dimensions, and the known table (tests/test_dimensions.py's TABLE, which
is certified there by exact ranks)."""

from __future__ import annotations

import pytest

from geomflow import _conjecture2 as c2, _dimensions as dm, _zero_hessian_pieces as zh


def test_insert_vertex_by_hand():
    # widths (2,2,2): threads [0,1] [1,2] [0,0] [2,2]; doubling vertex 1 carries [0,1] and [1,2]
    th = ((0, 0, 1), (0, 1, 1), (1, 2, 1), (2, 2, 1))
    w, new = c2.insert_vertex(th, 1, widths=(2, 2, 2))
    assert w == (2, 2, 2, 2)
    assert new == ((0, 0, 1), (0, 2, 1), (1, 3, 1), (3, 3, 1))
    # every vertex keeps its width: count the threads through each vertex
    for i, d in enumerate(w):
        assert sum(m for s, e, m in new if s <= i <= e) == d


@pytest.mark.parametrize("n,h", [(2, 7), (2, 8)])
def test_extension_search_decides_like_enumeration(n, h):
    """Where the condition fails, the candidates from depth h−1 reach dim im δ, as the complete
    enumeration does (dim δ(H) = dim im δ there: TABLE of test_dimensions)."""
    prev = c2.delta_H_dims((n,) * h, stop_at_full=False)
    cell = c2.conjecture2_cell((n,) * (h + 1), previous_attaining=prev.attaining)
    full = c2.delta_H_dims((n,) * (h + 1), stop_at_full=True)
    assert cell["search"] == "extension"
    assert cell["dim_delta_H"] == full.dim_delta_H == full.dim_im_delta
    assert not cell["condition_holds"] and cell["exact_confirms"]
    # the extension's attaining piece is a piece of the complete enumeration
    all_threads = {pc.threads for pc in zh.zero_hessian_pieces((n,) * (h + 1))}
    assert tuple(tuple(t) for t in cell["attaining"][0]) in all_threads


def test_holding_cell_exact_over_all_pieces():
    cell = c2.conjecture2_cell((3, 2, 3, 2, 3))
    rep = c2.delta_H_dims((3, 2, 3, 2, 3))
    assert cell["search"] == "enumeration"
    assert (cell["dim_delta_H"], cell["condition_holds"]) == (rep.dim_delta_H, rep.condition_holds)
    assert cell["exact_max_all_pieces"] == rep.dim_delta_H
    assert cell["exact_pieces_unchecked"] == 0 and cell["exact_confirms"]
    assert cell["exact_dim_im_delta"] == [dm.delta_image_dim_exact((3, 2, 3, 2, 3))] * 2

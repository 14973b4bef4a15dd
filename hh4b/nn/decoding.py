"""Exact joint decoding of the two Higgs assignments from SPA-NET's pair log-probabilities.

For J jets the first Higgs takes an unordered pair {a, b} and the second a disjoint pair
{c, d}; the decoded assignment maximises log P1(a, b) + log P2(c, d) over all such
pairs-of-pairs (C(J,2) * C(J-2,2) of them: 1260 for 10 jets, 10920 for 16). The index table of
allowed (a, b, c, d) is built with torch ops from the runtime jet count, so the same code runs
inside an exported ONNX graph whose jet axis is dynamic. Ties resolve to the first entry of
the table (lexicographic in a, b, c, d), identically in torch and onnxruntime.
"""

from __future__ import annotations

import torch


def pair_of_pairs_table(n_jets: int | torch.Tensor, device=None) -> torch.Tensor:
    """(P, 4) int64 rows (a, b, c, d) with a < b, c < d and {a, b}, {c, d} disjoint."""
    ar = torch.arange(n_jets, device=device)
    a, b = ar.view(-1, 1, 1, 1), ar.view(1, -1, 1, 1)
    c, d = ar.view(1, 1, -1, 1), ar.view(1, 1, 1, -1)
    allowed = (a < b) & (c < d) & (a != c) & (a != d) & (b != c) & (b != d)
    return torch.nonzero(allowed)


def decode_assignment(pair_log_prob: torch.Tensor) -> torch.Tensor:
    """(B, 2, J, J) log-probabilities -> (B, 2, 2) jet indices [[a, b], [c, d]], a < b, c < d."""
    n_jets = pair_log_prob.shape[-1]
    table = pair_of_pairs_table(n_jets, device=pair_log_prob.device)
    flat = pair_log_prob.flatten(2)  # (B, 2, J*J)
    first = table[:, 0] * n_jets + table[:, 1]
    second = table[:, 2] * n_jets + table[:, 3]
    score = flat[:, 0].index_select(1, first) + flat[:, 1].index_select(1, second)
    best = score.argmax(dim=1)
    return table.index_select(0, best).view(-1, 2, 2)

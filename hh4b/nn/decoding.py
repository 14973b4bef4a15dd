"""Exact joint decoding of the two Higgs assignments from SPA-NET's pair log-probabilities.

For J jets the first Higgs takes an unordered pair {a, b} and the second a disjoint pair
{c, d}; the decoded assignment maximises log P1(a, b) + log P2(c, d) over all such
pairs-of-pairs (C(J,2) * C(J-2,2) of them: 1260 for 10 jets, 10920 for 16). The index tables
are built with torch ops from the runtime jet count, so the same code runs inside an exported
ONNX graph whose jet axis is dynamic. Ties resolve to the first allowed (a, b, c, d) in
lexicographic order, identically in torch and onnxruntime.

decode_assignment gathers the C(J,2) upper-triangle entries of each branch once (one Gather of
(B, 2, C(J,2))), forms all sums P1[p] + P2[q] by broadcasting (B, C(J,2), C(J,2)), sets the
overlapping pairs to -inf (an added (P, P) bias) and takes one ArgMax: the p-major flat order is the
lexicographic order of pair_of_pairs_table, so the result (ties included) is that of a search over
the table, with 2 * C(J,2) gathered values per event instead of 2 * C(J,2) * C(J-2,2).
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


def upper_pairs(n_jets: int | torch.Tensor, device=None) -> torch.Tensor:
    """(C(J,2), 2) int64 rows (a, b), a < b, in lexicographic order."""
    ar = torch.arange(n_jets, device=device)
    return torch.nonzero(ar.unsqueeze(1) < ar.unsqueeze(0))


def decode_assignment(pair_log_prob: torch.Tensor) -> torch.Tensor:
    """(B, 2, J, J) log-probabilities -> (B, 2, 2) jet indices [[a, b], [c, d]], a < b, c < d."""
    n_jets = pair_log_prob.shape[-1]
    pairs = upper_pairs(n_jets, device=pair_log_prob.device)  # (P, 2)
    values = pair_log_prob.flatten(2).index_select(2, pairs[:, 0] * n_jets + pairs[:, 1])  # (B, 2, P)
    a, b = pairs[:, 0], pairs[:, 1]
    disjoint = ((a.unsqueeze(1) != a.unsqueeze(0)) & (a.unsqueeze(1) != b.unsqueeze(0))
                & (b.unsqueeze(1) != a.unsqueeze(0)) & (b.unsqueeze(1) != b.unsqueeze(0)))  # (P, P)
    overlap = torch.zeros(disjoint.shape, dtype=values.dtype, device=values.device).masked_fill(~disjoint, -torch.inf)
    score = (values[:, 0].unsqueeze(2) + overlap) + values[:, 1].unsqueeze(1)  # (B, P, P), -inf where overlapping
    best = score.flatten(1).argmax(dim=1)
    n_pairs = pairs.shape[0]
    first = torch.div(best, n_pairs, rounding_mode="floor")
    return torch.stack([pairs.index_select(0, first), pairs.index_select(0, best - first * n_pairs)], dim=1)


def decode_assignment_table(pair_log_prob: torch.Tensor) -> torch.Tensor:
    """decode_assignment as a search over pair_of_pairs_table (the reference; 2 gathers per row)."""
    n_jets = pair_log_prob.shape[-1]
    table = pair_of_pairs_table(n_jets, device=pair_log_prob.device)
    flat = pair_log_prob.flatten(2)  # (B, 2, J*J)
    first = table[:, 0] * n_jets + table[:, 1]
    second = table[:, 2] * n_jets + table[:, 3]
    score = flat[:, 0].index_select(1, first) + flat[:, 1].index_select(1, second)
    best = score.argmax(dim=1)
    return table.index_select(0, best).view(-1, 2, 2)

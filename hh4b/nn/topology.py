"""The HH -> bbbb event topology as data: which particles SPA-NET reconstructs and their symmetries.

Two Higgs bosons h1, h2 each decay to two b jets b1, b2. The assignment is invariant under
swapping the Higgs labels (h1 <-> h2) and, inside each Higgs, the two b jets (b1 <-> b2).
The model builds b1 <-> b2 into its pair-score matrices (they are symmetric) and the loss
minimises over h1 <-> h2. The same description writes the reference SPANet package's
event-info YAML, so an exported HDF5 file trains it too.
"""

from __future__ import annotations

from dataclasses import dataclass

JET_FEATURES = ("pt", "eta", "phi", "mass", "btag")  # INPUTS/Source order, also the model's F axis
LOG_FEATURES = ("pt", "mass")  # normalised as log(x) in the model


@dataclass(frozen=True)
class Topology:
    """Particles, their decay products and the permutation groups of both."""

    particles: tuple[str, ...] = ("h1", "h2")
    products: tuple[str, ...] = ("b1", "b2")
    particle_symmetries: tuple[tuple[str, ...], ...] = (("h1", "h2"),)
    product_symmetries: tuple[tuple[str, ...], ...] = (("b1", "b2"),)
    source: str = "Source"
    globals_group: str = "Kappa"
    classification: str = "EVENT/signal"

    def target_paths(self) -> list[str]:
        """HDF5 dataset paths of the assignment targets, particle-major: TARGETS/h1/b1, ..."""
        return [f"TARGETS/{p}/{b}" for p in self.particles for b in self.products]

    def event_info_yaml(self, with_globals: bool) -> str:
        """The reference SPANet event-info file for this topology and the exported HDF5 layout."""
        lines = ["INPUTS:", "  SEQUENTIAL:", f"    {self.source}:"]
        lines += [f"      {f}: {'log_normalize' if f in LOG_FEATURES else 'normalize' if f != 'btag' else 'none'}"
                  for f in JET_FEATURES]
        lines.append("  GLOBAL:")
        if with_globals:
            lines += [f"    {self.globals_group}:", "      kappa: normalize"]
        lines.append("EVENT:")
        for p in self.particles:
            lines += [f"  {p}:"] + [f"    - {b}" for b in self.products]
        lines.append("PERMUTATIONS:")
        lines.append("  EVENT:")
        lines += [f"    - [ {', '.join(g)} ]" for g in self.particle_symmetries]
        for p in self.particles:
            lines.append(f"  {p}:")
            lines += [f"    - [ {', '.join(g)} ]" for g in self.product_symmetries]
        lines += ["REGRESSIONS:", "CLASSIFICATIONS:", "  EVENT:", "    - signal"]
        return "\n".join(lines) + "\n"


HH_TOPOLOGY = Topology()

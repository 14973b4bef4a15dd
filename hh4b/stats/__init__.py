"""Statistics for hh4b: pyhf models of the signal-region m_hh, CLs limits, kappa_lambda scans.

Modules: `model` (workspaces), `limits` (resonant CLs limits), `kappa` (kappa_lambda intervals),
`projections` (luminosity and sqrt(s) scaling, equivalent luminosity), `thresholds` (score cut
optimisation), `asymptotic` (an independent CLs calculation for counting models), `outputs`
(reading the processor's output.coffea), `plots`.
"""

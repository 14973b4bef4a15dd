"""The reference numbers of the seed paper and notes, for side-by-side comparison in reports.

Sources: `paper_spanet_hh4b.txt` (Tables III, V, VI; text of sections V-VII) and
`notes_spanet2_hh4b.txt` (Tables 24, 27, 28, 33). They were obtained with MadGraph + Pythia 8 +
Delphes samples; hh4b's own simulation differs, so these are references, never targets.
Method keys follow the processor's `method` axis.
"""

from __future__ import annotations

METHOD_LABELS = {
    "cut_mindr": "Cut-based with min-dR pairing",
    "cut_dhh": "Cut-based with dR + min-D_hh pairing",
    "cut_spanet": "Cut-based with SPA-NET pairing",
    "dnn_mindr": "DNN with min-dR pairing",
    "dnn_spanet": "DNN with SPA-NET pairing",
    "spanet": "SPA-NET selection",
    "deepsets": "Deep Sets with min-dR pairing (beyond the paper)",
}

# Table III (resonant) and Table V (non-resonant): (ACC, ACC error, AUC, AUC error) over 10 trainings.
CLASSIFIER_PERFORMANCE = {
    "resonant": {
        "dnn_mindr": (0.865, 0.001, 0.938, 0.001),
        "dnn_spanet": (0.876, 0.001, 0.946, 0.001),
        "spanet": (0.894, 0.002, 0.961, 0.001),
    },
    "nonresonant": {
        "dnn_mindr": (0.799, 0.011, 0.881, 0.012),
        "dnn_spanet": (0.803, 0.004, 0.884, 0.004),
        "spanet": (0.828, 0.002, 0.911, 0.001),
    },
}

# Table VI: expected kappa_lambda constraints at 300 fb^-1, 14 TeV.
# (lower, upper, width) with mu as POI (CLs) and with kappa_lambda as POI (profile likelihood).
KAPPA_LAMBDA_INTERVALS_300 = {
    "cut_mindr": {"cls": (-3.30, 10.38, 13.68), "profile": (-3.27, 10.33, 13.60)},
    "cut_spanet": {"cls": (-3.58, 10.47, 14.05), "profile": (-3.55, 10.43, 13.98)},
    "dnn_mindr": {"cls": (-1.44, 8.49, 9.93), "profile": (-1.44, 8.49, 9.93)},
    "dnn_spanet": {"cls": (-1.72, 8.94, 10.66), "profile": (-1.72, 8.99, 10.71)},
    "spanet": {"cls": (-1.57, 7.49, 9.06), "profile": (-1.56, 7.57, 9.13)},
}

# Notes Table 27: width of the kappa_lambda interval (profile likelihood, CLs) vs luminosity.
KAPPA_LAMBDA_WIDTH_VS_LUMI = {
    "dnn_mindr": {300: (9.98, 9.92), 3000: (5.10, 5.72)},
    "dnn_spanet": {300: (10.78, 10.67), 3000: (5.36, 5.87)},
    "spanet": {300: (9.19, 9.06), 3000: (4.38, 4.98)},
}

# Notes Table 28: luminosity (fb^-1) min-dR + DNN needs to match SPA-NET's interval width
# (profile likelihood, CLs) at the SPA-NET luminosity.
EQUIVALENT_LUMINOSITY_DNN_MINDR = {300: (405, 425), 3000: (5131, 4992)}

# Notes Table 24: pairing efficiency on non-resonant samples.
PAIRING_EFFICIENCY_NONRESONANT = {
    "mindr": {-5: 0.644, 1: 0.809, 5: 0.395},
    "spanet": {-5: 0.793, 1: 0.885, 5: 0.729},
}

# Notes Table 33: SPA-NET score threshold maximising S/sqrt(B) at 139 fb^-1: m_H -> (p_th, S, B, S/sqrt(B)).
THRESHOLDS_SPANET = {
    300: (0.57, 257, 87112, 0.872), 400: (0.88, 183, 25426, 1.148), 500: (0.89, 127, 23678, 0.828),
    600: (0.97, 56, 8301, 0.616), 700: (0.99, 26, 2621, 0.504), 800: (0.99, 19, 2621, 0.376),
    900: (0.99, 13, 2621, 0.246), 1000: (0.99, 8, 2621, 0.154), 1100: (0.99, 4, 2621, 0.086),
    1200: (0.99, 2, 2621, 0.046),
}

# Paper sections V-VII, in words (figures are not tabulated).
RESONANT_LIMIT_GAIN = "SPA-NET limits 10% to 45% stronger than DNN with min-dR pairing (Fig. 7)"
MATCHED_FRACTION = (0.77, 0.89)  # fraction of four-tag signal events fully matched (section III.B)

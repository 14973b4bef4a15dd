"""Event generation: Pythia 8 samples (resonant, non-resonant, QCD, ttbar, LHE) into NanoAOD-style files."""

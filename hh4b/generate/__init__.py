"""Event generation: Pythia 8 samples (resonant, non-resonant, QCD, ttbar, LHE) into NanoAOD-style files."""


def __getattr__(name):
    """`hh4b.generate.generate_file` (imported lazily: Pythia loads only when it is used)."""
    if name == "generate_file":
        from hh4b.generate.pythia_driver import generate_file

        return generate_file
    raise AttributeError(f"module 'hh4b.generate' has no attribute {name!r}")

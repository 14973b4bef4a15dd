"""hh4b: search for Higgs-boson pairs decaying to four b-jets.

Generation (Pythia 8 + parametrised detector) -> coffea processors -> SPA-NET / DNN (ONNX)
-> pyhf limits. See the README for the two commands that set it up and run it.
"""

__version__ = "0.1.0"

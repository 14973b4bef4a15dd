"""Background stage: the data-driven multijet model (2b -> 4b reweighting), its validation and its ONNX form."""

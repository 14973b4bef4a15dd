"""Neural networks of hh4b: SPA-NET (joint jet assignment and classification), the dense
baseline, the background reweighting net, their data sets, training loops and ONNX export."""

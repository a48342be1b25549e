"""The quantization debugger: ``edgelstm inspect ARTIFACT``.

Runs a quantized artifact beside the float model and reports, for every tensor the lowered graph
tags (gate pre-activations, gates, cell, hidden, per timestep): its error against the float
model, its calibrated (representable) range against the range the float model really spans,
and how often it saturates. It then names the tensors that cause the output error: a numpy
simulation of the artifact's quantization is run once per tensor with that one tensor kept in
float, and the tensors whose float copy removes most of the output error are the culprits.

  traces    float trace of the lowered math; quantized traces read from the artifact
            (LiteRT with every tensor kept, the fused LSTM's integers from the kernel's
            reference, onnxruntime with the dequantized tensors as extra outputs)
  simulate  the fake-quant simulation and the what-if-float ablation
  analysis  per-tensor statistics, culprits, the report dictionary
  report    terminal table, JSON, HTML with the plots
"""

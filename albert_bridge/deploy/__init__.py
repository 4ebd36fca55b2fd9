"""Deployment tiers: reduced-precision copies of a model for CPUs and phones, and how far each is from fp32.

- `onnx_int8`: `model_quantized.onnx`, ONNX Runtime dynamic int8 quantization of our fp32 export (each shared
  weight quantized once);
- `tflite`: `model.tflite` / `model_fp16.tflite` / `model_int8.tflite`, TensorFlow's converter on our TF2 classes,
  run by the LiteRT interpreter;
- `agreement`: the measure for a reduced-precision copy (top-1 / top-5 agreement of logits, cosine of hidden states);
- `tiers`: size, latency relative to fp32 ONNX Runtime and agreement of each tier, measured side by side.

The floor above `models` (TFLite is converted from our TF2 classes); the format registry names these modules by
string, so `formats` never imports them.
"""

"""Exports built from the canonical checkpoint alone (no framework): `onnx.py` writes ALBERT as an ONNX graph.

Nothing here is imported by `albert_bridge` itself; each exporter imports its own package (onnx, onnxruntime)."""

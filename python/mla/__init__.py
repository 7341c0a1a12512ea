"""Plain-Python helpers over the mla tools.

`python -m mla.layer CONFIG.json` writes an `mla` dialect file for a Hugging
Face config (`mla.layer.emit_layer` from Python).
"""

"""PyTorch interop shared by every family.

  convert     flax params <-> PyTorch state dicts: per-tensor transforms, the LayoutSpec a family's
              torch_layout fills in, exactly-once / shape / dtype checks, mismatch diagnosis
  optim       optax Adam state <-> torch.optim.Adam state dicts
  files       torch.save / safetensors files, the original's checkpoint file names
  torch_ref/  PyTorch reference modules (optional [torch] extra) for parity tests

Nothing here imports torch at import time; functions that need it say so with a FacejaxError.
"""

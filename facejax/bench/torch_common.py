"""What every family's PyTorch baseline (`facejax bench --against=torch`) shares."""

from __future__ import annotations

import sys


def import_torch():
    """`import torch`, never letting it load triton once TensorFlow is loaded: CUDA builds of torch import
    triton from torch._dynamo, and triton loaded after TensorFlow segfaults (seen with torch 2.14.1+cu130 and
    tensorflow-cpu 2.21). The eager baseline never uses triton; without it torch only skips its compilers."""
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None  # `import triton` now raises ImportError, which torch handles
    import torch

    return torch

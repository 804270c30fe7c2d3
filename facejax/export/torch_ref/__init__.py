"""PyTorch reference modules for parity tests and export checks, one module per family.

They are written from the facts in ``reference/`` and carry the original repositories' module and state-dict
names, so that a facejax export can be loaded into them with ``strict=True``. The submodules import torch at
import time; this package does not, so importing ``facejax.export`` never needs the optional ``[torch]`` extra.
Import a submodule only where torch is installed (tests use ``pytest.importorskip("torch")``).
"""

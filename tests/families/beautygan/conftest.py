"""Shared fixtures of the BeautyGAN tests: the synthetic_faces data (built once per session) and weight files
in the formats users supply, with random values (nothing is downloaded).

Every test that trains uses the `synthetic` preset with the same shapes (PRESET_OVERRIDES), so the train step
compiles once per session (the persistent compilation cache of tests/conftest.py serves the others).
"""

import sys

import numpy as np
import pytest

# The CUDA build of torch brings triton, whose native library crashes the process when it loads after
# TensorFlow's (torchvision imports it); these CPU tests never use triton.
sys.modules.setdefault("triton", None)

PRESET_OVERRIDES = {"log_every": 25, "sample_every": 0, "checkpoint_every": 100_000}


@pytest.fixture(scope="session")
def vgg16_file(tmp_path_factory):
    """(path of a random VGG-16 state dict in torchvision's layout, features up to conv4_1 saved: the tensors a
    perceptual loss at relu4_1 reads; torchvision's features[:19] with those weights)."""
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    features = tv.models.vgg.make_layers(tv.models.vgg.cfgs["D"])  # vgg16().features
    with torch.no_grad():
        for m in features:
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, float(np.sqrt(2.0 / (m.in_channels * 9))))
                m.bias.normal_(0, 0.1)
    sd = {f"features.{k}": v for k, v in features.state_dict().items() if int(k.split(".")[0]) <= 17}
    path = tmp_path_factory.mktemp("weights") / "vgg16-397923af.pth"
    torch.save(sd, path)
    return str(path), features[:19].eval()

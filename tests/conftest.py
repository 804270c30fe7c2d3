"""Test-wide setup: 4 virtual CPU devices (so every training test runs sharded over `data`), a
persistent compilation cache (identical steps compile once per suite), quiet TensorFlow."""

import os

# 4 virtual CPU devices, raised collective timeouts, and the XLA flags the suite was started with (tests/xla_env.py).
from tests import xla_env  # noqa: E402

os.environ["XLA_FLAGS"] = xla_env.flags(4)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pathlib  # noqa: E402
import sys  # noqa: E402

# The CUDA build of torch (the test extra's 2.14.1) brings triton, whose native library crashes the
# process when it loads after TensorFlow's (torch.optim and torch.compile import it); the suite
# runs on the CPU and never needs triton, so it is hidden from every test.
sys.modules.setdefault("triton", None)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

CACHE = str(pathlib.Path.home() / ".cache" / "facejax-test-xla")
jax.config.update("jax_compilation_cache_dir", CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
# Every command the tests run in a subprocess (facejax train/sample/eval/export ...) shares that cache, so a
# program one test compiled is read back by the next command that runs it instead of compiled again.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

REPO = pathlib.Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """Slow tests (learning, multi-process, end-to-end) first: with `-n 2` the two workers then finish
    together instead of one running a long test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def afhq_samples():
    path = SHARED / "data" / "afhq_samples"
    if not path.is_dir():
        pytest.skip(f"{path} not found (shared/ must sit beside the checkout)")
    return path


# Randomly initialised metric networks saved in the released files' formats, built with the reference
# packages' own code (pytorch-fid, torchvision, lpips), so parity tests compare facejax against the
# tools on the same weights, and evaluation tests (metrics, sweeps) have weight files. No network
# access: pytorch-fid's weight download is replaced by reading the file written here.
FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
IMAGENET_FILE = "inception_v3_google-0cc3c7bd.pth"
ALEX_FILE = "alexnet-owt-7be5be79.pth"


def randomize(module, seed: int) -> None:
    """Conv/linear weights ~ N(0, 2/fan_in) (He), BatchNorm affine and running statistics random, so
    activations stay O(1) through 90+ layers, features vary from image to image (by ~6%; with
    1/fan_in they are nearly constant) and every parameter matters."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.state_dict().items():
            if not p.is_floating_point():
                continue
            if name.endswith("running_var"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * np.sqrt(2.0 / np.prod(p.shape[1:])))
            elif name.endswith("bn.weight"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="session")
def fid_inception(tmp_path_factory):
    """(path of a random pt_inception-2015-12-05 file, pytorch-fid's InceptionV3 loaded from it)."""
    torch = pytest.importorskip("torch", reason="parity tests need torch")
    pytest.importorskip("torchvision", reason="parity tests need torchvision")
    pfi = pytest.importorskip("pytorch_fid.inception", reason="FID parity needs pytorch-fid")
    # The architecture exactly as pytorch_fid.inception.fid_inception_v3 builds it before loading.
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    randomize(net, 1)
    path = tmp_path_factory.mktemp("weights") / FID_FILE
    torch.save(net.state_dict(), path)
    # pytorch-fid's own constructor, with its download replaced by this file (strict load).
    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda url, **kw: torch.load(path, map_location="cpu", weights_only=True)
    try:
        ref = pfi.InceptionV3(
            [pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True, use_fid_inception=True
        ).eval()
    finally:
        pfi.load_state_dict_from_url = original
    return str(path), ref


@pytest.fixture(scope="session")
def imagenet_inception(tmp_path_factory):
    """(path of a random inception_v3_google file incl. AuxLogits and fc, torchvision's model)."""
    torch = pytest.importorskip("torch", reason="parity tests need torch")
    tv = pytest.importorskip("torchvision", reason="parity tests need torchvision")
    net = tv.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    randomize(net, 2)
    path = tmp_path_factory.mktemp("weights") / IMAGENET_FILE
    torch.save(net.state_dict(), path)
    net.eval()
    return str(path), net


@pytest.fixture(scope="session")
def lpips_alex(tmp_path_factory):
    """(path of a random alexnet-owt file, lpips.LPIPS with that trunk and the wheel's v0.1 heads)."""
    torch = pytest.importorskip("torch", reason="parity tests need torch")
    pytest.importorskip("torchvision", reason="parity tests need torchvision")
    lp = pytest.importorskip("lpips", reason="LPIPS parity needs the lpips package")
    torch.manual_seed(3)
    ref = lp.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    # lpips keeps torchvision's `features` indices as module names inside its slices.
    sd = {}
    for k, v in ref.net.state_dict().items():  # e.g. slice2.3.weight
        _, idx, name = k.split(".")
        sd[f"features.{idx}.{name}"] = v.clone()
    sd["classifier.1.weight"] = torch.zeros(8, 8)  # the released file carries the classifier too
    path = tmp_path_factory.mktemp("weights") / ALEX_FILE
    torch.save(sd, path)
    return str(path), ref

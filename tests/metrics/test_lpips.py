"""LPIPS vs the lpips package (AlexNet trunk + the wheel's v0.1 heads) on the same random trunk."""

import jax
import numpy as np
import pytest

from facejax.errors import FacejaxError
from facejax.metrics import lpips, weights

torch = pytest.importorskip("torch", reason="parity tests need torch")


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))


@pytest.fixture(scope="module")
def params(lpips_alex):
    # No lin path: facejax finds the installed lpips package's weights/v0.1/alex.pth itself.
    return lpips.load_params(lpips_alex[0])


def test_distance_matches_lpips_package(lpips_alex, params):
    _, ref = lpips_alex
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    x1 = np.clip(x0 + rng.normal(0, 0.3, x0.shape), -1, 1).astype(np.float32)
    got = np.asarray(jax.jit(lpips.distance)(params, x0, x1))
    with torch.no_grad():
        want = ref(_nchw(x0), _nchw(x1)).reshape(-1).numpy()
    assert got.shape == (3,) and np.all(want > 0.01)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.allclose(np.asarray(lpips.distance(params, x0, x0)), 0.0, atol=1e-6)


def test_pairwise_mean_is_stargans_mean_over_pairs(lpips_alex, params):
    """StarGAN v2's calculate_lpips_given_images: mean over the K(K-1)/2 pairs of batch-mean LPIPS."""
    _, ref = lpips_alex
    k, n = 4, 2
    outs = np.random.default_rng(1).uniform(-1, 1, (k, n, 64, 64, 3)).astype(np.float32)
    got = np.asarray(jax.jit(lpips.pairwise_mean)(params, outs))
    with torch.no_grad():
        vals = [ref(_nchw(outs[i]), _nchw(outs[j])).mean() for i in range(k - 1) for j in range(i + 1, k)]
        want = float(torch.stack(vals).mean())
    assert len(vals) == 6 and got.shape == (n,)
    assert float(np.mean(got)) == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_weights_are_checked_and_missing_files_named(lpips_alex, tmp_path):
    assert weights.installed_lpips_lin("alex").endswith("weights/v0.1/alex.pth")
    with pytest.raises(FacejaxError, match="alexnet-owt-7be5be79.pth from https://download.pytorch.org/models/"):
        lpips.load_params(str(tmp_path / "missing.pth"), alexnet_field="--weights")
    with pytest.raises(FacejaxError, match="--lpips_lin.*alex.pth.*lpips package"):
        lpips.load_params(lpips_alex[0], str(tmp_path / "nolin.pth"), lin_field="--lpips_lin")
    # The lin file given where AlexNet is expected: every AlexNet tensor is missing, named.
    with pytest.raises(FacejaxError, match=r"10 missing \(e.g. features.0.weight.*5 unexpected"):
        lpips.load_params(weights.installed_lpips_lin("alex"))

"""FID from streaming statistics gathered over 4 devices vs pytorch-fid's calculate_frechet_distance."""

import jax
import numpy as np
import pytest

from facejax.errors import FacejaxError
from facejax.metrics import fid
from facejax.train import mesh as mesh_lib

fid_score = pytest.importorskip("pytorch_fid.fid_score", reason="FID parity needs pytorch-fid")


def _features(seed, n, d, shift):
    """Correlated, non-centred float32 features like Inception pool outputs (non-negative)."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return np.abs(rng.normal(size=(n, d)) @ mix + shift).astype(np.float32)


def _streamed(x, batch):
    """Statistics of x fed through a jitted function sharded over all 4 devices in global batches."""
    mesh = mesh_lib.make_mesh()
    assert mesh.devices.size == 4
    ext = fid.Extractor(lambda scale, rows: rows * scale, np.float32(1.0), mesh)
    calls = []

    def load(idx):
        calls.append(idx)
        return x[[i if i >= 0 else 0 for i in idx]]

    stats = fid.stats_of(len(x), load, ext, batch, x.shape[1])
    return stats, calls


@pytest.mark.parametrize("n1, n2", [(400, 300), (90, 70)])  # more and fewer images than dimensions
def test_streamed_fid_equals_pytorch_fid(n1, n2):
    d = 128
    x, y = _features(0, n1, d, 0.5), _features(1, n2, d, 0.8)
    sx, calls = _streamed(x, batch=24)
    sy, _ = _streamed(y, batch=24)
    assert sx.n == n1 and sy.n == n2
    assert len(calls) == -(-n1 // 24) and calls[-1][-1] == -1  # several batches, the last one padded
    # pytorch-fid's calculate_activation_statistics on the same features
    mu1, s1 = np.mean(x, axis=0), np.cov(x, rowvar=False)
    mu2, s2 = np.mean(y, axis=0), np.cov(y, rowvar=False)
    np.testing.assert_allclose(sx.mu, mu1, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(sx.sigma, s1, rtol=1e-6, atol=1e-9)
    want = fid_score.calculate_frechet_distance(mu1, s1, mu2, s2)
    for method in fid.METHODS:
        got = fid.fid_from_stats(sx, sy, method)
        assert abs(got / want - 1) < 1e-6, (method, got, want)
        got = fid.frechet_distance(sx.mu, sx.sigma, sy.mu, sy.sigma, method=method)
        assert abs(got / want - 1) < 1e-6, (method, got, want)


def test_identical_sets_give_zero_and_shift_gives_its_square():
    x = _features(2, 300, 32, 0.3)
    s = fid.RunningStats(32)
    for i in range(0, 300, 7):
        s.update(x[i : i + 7])
    assert abs(fid.fid_from_stats(s, s, "eigh")) < 1e-6
    t = fid.RunningStats(32)
    t.update(x + 2.0)  # a pure shift of every feature by 2: FID = 32 * 2^2
    assert fid.fid_from_stats(s, t, "eigh") == pytest.approx(128.0, rel=1e-6)
    # Rows are kept only while a set has no more rows than dimensions (the low-rank path).
    u = fid.RunningStats(32)
    u.update(x[:10])
    u.update(x[10:20])
    assert s.rows is None and u.rows.shape == (20, 32)


def test_stats_files_are_pytorch_fids(tmp_path):
    x = _features(3, 50, 16, 0.1)
    s = fid.RunningStats(16)
    s.update(x)
    ours = s.save(str(tmp_path / "ours.npz"))
    # pytorch-fid reads facejax's file ...
    m, sg = fid_score.compute_statistics_of_path(ours, None, 50, 16, "cpu")
    np.testing.assert_allclose(m, s.mu)
    np.testing.assert_allclose(sg, s.sigma)
    # ... and facejax reads pytorch-fid's (its --save-stats writes np.savez_compressed(mu=, sigma=)).
    theirs = tmp_path / "theirs.npz"
    np.savez_compressed(theirs, mu=np.mean(x, 0), sigma=np.cov(x, rowvar=False))
    mu, sigma = fid.load_stats(str(theirs))
    np.testing.assert_allclose(mu, np.mean(x, 0))
    with pytest.raises(FacejaxError, match="does not exist"):
        fid.load_stats(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "wrong.npz", mean=mu)
    with pytest.raises(FacejaxError, match=r"holds \['mean'\]; expected pytorch-fid's 'mu' and 'sigma'"):
        fid.load_stats(str(tmp_path / "wrong.npz"))
    with pytest.raises(FacejaxError, match="differ in size"):
        fid.frechet_distance(mu, sigma, mu[:3], sigma[:3, :3])


def test_padded_batch_and_process_slices():
    mesh = mesh_lib.make_mesh()
    assert fid.padded_batch_size(32, mesh) == 32 and fid.padded_batch_size(5, mesh) == 8
    assert fid.padded_batch_size(1, mesh) == 4
    slices = list(fid.process_slices(10, 4))
    assert slices == [([0, 1, 2, 3], 4), ([4, 5, 6, 7], 4), ([8, 9, -1, -1], 2)]
    assert jax.process_count() == 1

"""`facejax eval fid|fid_stats|lpips` on tiny folders, against pytorch-fid's and lpips' own folder pipelines."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tests import xla_env

from facejax.metrics import fid

torch = pytest.importorskip("torch", reason="parity tests need torch")
fid_score = pytest.importorskip("pytorch_fid.fid_score", reason="FID parity needs pytorch-fid")

ENV = xla_env.env(4)


def facejax(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "facejax.cli", "eval", *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def _last_json(res):
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def _folder(root, name, n, size, seed, names=None):
    d = root / name
    d.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):  # smooth random colour fields: images that differ a lot to the networks
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((size, size), Image.BILINEAR)
        img.save(d / (names[i] if names else f"{i:03d}.png"))
    return d


def test_eval_fid_stats_match_pytorch_fid(tmp_path, fid_inception, capsys):
    """In-process (the command's main with its flags set), sharded over the suite's 4 devices."""
    from absl import flags
    from absl.testing import flagsaver

    from facejax.commands import eval as eval_command

    path, ref = fid_inception
    a = _folder(tmp_path, "a", 6, 40, 0)
    stats = tmp_path / "a_stats.npz"
    flags.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(weights=path, a=str(a), out=str(stats), eval_batch_size=4, json=True):
        eval_command.main(None, ["fid_stats"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 6 and out["inception"] == "fid"
    # pytorch-fid's own folder pipeline (PIL -> ToTensor -> its InceptionV3) on the same weights
    mu, sigma = fid_score.compute_statistics_of_path(str(a), ref, 50, 2048, "cpu", 0)
    ours_mu, ours_sigma = fid.load_stats(str(stats))
    np.testing.assert_allclose(ours_mu, mu, rtol=1e-5, atol=1e-5 * np.abs(mu).max())
    np.testing.assert_allclose(ours_sigma, sigma, rtol=1e-3, atol=1e-4 * np.abs(sigma).max())


def test_eval_fid_matches_pytorch_fid_on_folders(tmp_path, fid_inception):
    path, ref = fid_inception
    a, b = _folder(tmp_path, "a", 6, 40, 0), _folder(tmp_path, "b", 5, 40, 1)
    res = facejax(
        "fid", f"--weights={path}", f"--a={a}", f"--b={b}", "--eval_batch_size=4", "--fid_method=eigh", "--json"
    )
    out = _last_json(res)
    assert (out["a"]["n"], out["b"]["n"], out["inception"]) == (6, 5, "fid")
    assert f"FID: {out['fid']}" in res.stdout
    # pytorch-fid's activations; with fewer images than dimensions the trace term is exact from them
    acts = [fid_score.get_activations(sorted(str(p) for p in d.iterdir()), ref, 50, 2048, "cpu", 0) for d in (a, b)]
    mu = [x.mean(0) for x in acts]
    sigma = [np.cov(x, rowvar=False) for x in acts]
    want = (
        np.sum((mu[0] - mu[1]) ** 2)
        + np.trace(sigma[0])
        + np.trace(sigma[1])
        - 2 * fid.trace_sqrt_product_low_rank(*acts)
    )
    assert out["fid"] == pytest.approx(want, rel=1e-5)


def _rgb(path):
    """lpips.load_image without OpenCV: RGB uint8 HWC."""
    return np.asarray(Image.open(path).convert("RGB"))


def test_eval_lpips_pairs_by_name(tmp_path, lpips_alex):
    lp = pytest.importorskip("lpips")
    path, ref = lpips_alex
    names = ["x.png", "y.png", "z.png"]
    a = _folder(tmp_path, "a", 3, 64, 2, names)
    b = _folder(tmp_path, "b", 3, 64, 3, names)
    res = facejax("lpips", f"--weights={path}", f"--a={a}", f"--b={b}", "--eval_batch_size=2", "--json")
    out = _last_json(res)
    with torch.no_grad():  # the lpips package's lpips_2dirs.py, pair by pair
        want = [float(ref(lp.im2tensor(_rgb(a / n)), lp.im2tensor(_rgb(b / n)))) for n in names]
    assert out["pairs"] == 3
    assert out["lpips"] == pytest.approx(float(np.mean(want)), rel=1e-5, abs=1e-5)

    (b / "z.png").rename(b / "w.png")
    res = facejax("lpips", f"--weights={path}", f"--a={a}", f"--b={b}")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no namesake in --b (z.png)" in res.stderr and "(w.png)" in res.stderr


def test_missing_weights_name_the_file_and_where_it_comes_from(tmp_path):
    a = _folder(tmp_path, "a", 2, 32, 4)
    res = facejax("fid", f"--weights={tmp_path / 'pt_inception.pth'}", f"--a={a}", f"--b={a}")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "pt_inception.pth' does not exist" in res.stderr
    assert "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" in res.stderr
    res = facejax("bleu", f"--a={a}")
    assert res.returncode == 2 and "expected `eval fid`" in res.stderr

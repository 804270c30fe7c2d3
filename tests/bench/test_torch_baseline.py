"""The PyTorch eager baseline of `facejax bench --against=torch` runs the same iteration as facejax's
jitted step: from the same weights, batch and latent codes, every loss of the iteration agrees."""

import jax
import numpy as np
import pytest
from tests.bench.test_bench import TINY

from facejax import configs, registry
from facejax.bench.torch_common import import_torch
from facejax.errors import FacejaxError
from facejax.families.stargan_v2.torch_layout import module_state_dict as flax_to_torch_state_dict
from facejax.train import mesh as mesh_lib
from facejax.train import trainer
from facejax.train.state import bind, root_key_data, step_key


@pytest.mark.torch
def test_torch_iteration_matches_the_jax_step():
    pytest.importorskip("torch")
    torch = import_torch()
    cfg = configs.load("stargan_v2:synthetic", **TINY)
    family = registry.create(cfg)
    mesh = mesh_lib.make_mesh()
    _, init_fn, step_fn = trainer.jit_train_step(family, mesh)  # the executable bench and training run
    state = init_fn(root_key_data(cfg.seed))
    before = jax.device_get(state.params)
    runner = family.bench_torch_step(0)
    runner.load_state_dicts({k: flax_to_torch_state_dict(bind(family.graphdefs[k], v)) for k, v in before.items()})
    k1, k2 = jax.random.split(step_key(state))
    shape = (cfg.batch_size, cfg.model.latent_dim)
    z = [torch.from_numpy(np.array(jax.random.normal(k, shape))) for k in (k1, k2)]
    batch = family.bench_batch(cfg.batch_size, seed=5)

    state, metrics = step_fn(state, mesh_lib.global_batch(batch, mesh))
    ours = {k: float(v) for k, v in jax.device_get(metrics).items()}
    theirs = {k: float(v) for k, v in runner.step(runner.to_torch(batch), z=z).items()}
    assert set(ours) == set(theirs) and len(ours) == 15
    # The D losses of the first update come from identical weights; every later loss follows Adam
    # updates, whose first step (beta1 = 0) is sign-like: tiny float differences in a gradient near
    # zero can flip an entry's update. A wrong term, weight, net or update order is off by far more.
    for k, v in ours.items():
        tol = 1e-4 if k.startswith("D/latent_") else 2e-3
        assert abs(v - theirs[k]) <= tol * abs(v) + 1e-6, f"{k}: facejax {v:.6f}, torch {theirs[k]:.6f}"
    # ...and both updated every net by the same amounts, up to those rare flipped entries.
    after = jax.device_get(state.params)
    for k, net in runner.nets.items():
        ref = flax_to_torch_state_dict(bind(family.graphdefs[k], after[k]))
        old = flax_to_torch_state_dict(bind(family.graphdefs[k], before[k]))
        moved = np.concatenate([np.abs(ref[n] - old[n]).ravel() for n in ref])
        diff = np.concatenate([np.abs(ref[n] - p.detach().numpy()).ravel() for n, p in net.state_dict().items()])
        assert moved.max() > 0, k
        assert np.mean(diff > 0.01 * moved.max()) < 0.01, (k, np.mean(diff > 0.01 * moved.max()))


@pytest.mark.torch
def test_torch_iteration_with_fan_masks_leaves_unused_shortcuts_alone():
    """w_hpf > 0 (CelebA-HQ): FAN's masks feed the generator; the decoder's conv1x1 kernels take no part, so
    (as in the original) they get no gradient and Adam leaves them at their initial values."""
    pytest.importorskip("torch")
    torch = import_torch()
    cfg = configs.load(
        "stargan_v2:synthetic", **{**TINY, "model.w_hpf": 1.0, "model.fan_img_size": 64, "model.fan_width": 4}
    )
    family = registry.create(cfg)
    runner = family.bench_torch_step(0)
    assert runner.fan is not None and not runner.fan.training
    g = runner.nets["generator"]
    frozen = {n: p.detach().clone() for n, p in g.named_parameters() if n.startswith("decode.") and "conv1x1" in n}
    others = {n: p.detach().clone() for n, p in g.named_parameters() if n not in frozen}
    assert frozen
    calls = []
    runner.fan.register_forward_hook(lambda *a: calls.append(1))
    metrics = runner.step(runner.to_torch(family.bench_batch(cfg.batch_size, seed=2)))
    assert len(metrics) == 15 and all(bool(torch.isfinite(v)) for v in metrics.values())
    assert len(calls) == 3  # masks of x_real once, then of each G update's x_fake for the cycle
    after = dict(g.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in frozen.items())
    assert sum(not torch.equal(after[n], v) for n, v in others.items()) > 0.9 * len(others)


@pytest.mark.parametrize(
    "row, field",
    [("C", "config.model.style='label'"), ("A", "config.model.generator"), ("D", "config.model.style='latent'")],
)
def test_rows_without_a_torch_baseline_are_one_error_before_torch(row, field):
    family = registry.create(configs.load(f"stargan_v2:{row},synthetic", **TINY))
    with pytest.raises(FacejaxError, match=rf"bench --against=torch runs StarGAN v2 itself.*{field}"):
        family.bench_torch_step(0)

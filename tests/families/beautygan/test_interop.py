"""BeautyGAN <-> BeautyGAN_pytorch's layout: every key of the original's modules (spectral-norm tensors
included), strict loading into the reference modules with equal outputs and equal power-iteration updates,
identical tensors after torch -> facejax -> torch, the snapshot files, and clear mismatch errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.export.convert import CheckpointMismatch
from facejax.families.beautygan import torch_layout
from facejax.train.state import root_key_data

torch = pytest.importorskip("torch")
from facejax.families.beautygan import torch_ref as ref  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = {
    "img_size": 32,
    "model.g_conv_dim": 8,
    "model.g_repeat_num": 2,
    "model.d_conv_dim": 8,
    "model.d_repeat_num": 2,
    "steps_per_epoch": 0,
}


@pytest.fixture(scope="module")
def family():
    return registry.create(configs.load("beautygan:synthetic", **SMALL))


def random_params(family, seed=0):
    """A fresh state with every weight random (IN scales and biases too, so that their mapping is tested)."""
    state = jax.jit(family.init)(root_key_data(seed))
    rng = np.random.default_rng(seed)

    def fill(path, x):
        name = str(getattr(path[-1], "key", path[-1]))
        if name == "scale":
            return jnp.asarray(1.0 + 0.2 * rng.standard_normal(x.shape), jnp.float32)
        if name == "bias":
            return jnp.asarray(0.2 * rng.standard_normal(x.shape), jnp.float32)
        return x

    return state.replace(params=jax.tree_util.tree_map_with_path(fill, state.params))


def torch_nets(m, image_size=32):
    return {
        "G": ref.Generator_branch(m.g_conv_dim, m.g_repeat_num),
        "D": ref.Discriminator(image_size, m.d_conv_dim, m.d_repeat_num),
    }


def _t(sd):
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def test_full_size_keys_and_shapes_are_the_originals():
    cfg = configs.load("beautygan:mt")
    layout = torch_layout.TorchLayout(cfg)
    with torch.device("meta"):
        nets = torch_nets(cfg.model, 256)
    for name, net in (("G", "G"), ("D_A", "D"), ("D_B", "D")):
        sd = nets[net].state_dict()
        assert layout.nets[name].keys() == list(sd), name
        assert layout.nets[name].shapes() == {k: tuple(v.shape) for k, v in sd.items()}, name
    g, d = layout.nets["G"].shapes(), layout.nets["D_A"].shapes()
    assert len(g) == 71
    # reference/makeup.md 3.3, verbatim
    assert g["Branch_0.0.weight"] == (64, 3, 7, 7) and g["main.9.weight"] == (256, 128, 4, 4)  # ConvT [in, out]
    assert g["main.8.main.4.bias"] == (256,) and g["branch_2.6.weight"] == (3, 64, 7, 7)
    assert list(d)[:4] == ["main.0.bias", "main.0.weight_u", "main.0.weight_v", "main.0.weight_bar"]
    assert d["main.6.weight_v"] == (4096,) and d["main.6.weight_bar"] == (512, 256, 4, 4)
    assert [k for k in d if k.startswith("conv1")] == ["conv1.weight_u", "conv1.weight_v", "conv1.weight_bar"]
    assert d["conv1.weight_v"] == (8192,)
    assert sum(int(np.prod(s)) for k, s in d.items() if not k.endswith(("_u", "_v"))) == 2_764_736
    assert sum(int(np.prod(s)) for s in g.values()) == 9_237_376


def test_strict_load_gives_the_same_images_and_power_iterations(family):
    state = random_params(family, 1)
    exported = family.torch_layout().export(state)
    assert set(exported) == {"G", "D_SYMIX", "D_MAKEMIX"}
    nets = torch_nets(family.config.model)
    nets["G"].load_state_dict(_t(exported["G"]), strict=True)
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1, 1, (2, 2, 32, 32, 3)).astype(np.float32)
    fa, fb = family.generate(state.params["G"], x, y)
    with torch.no_grad():
        ta, tb = nets["G"].eval()(_nchw(x), _nchw(y))
    np.testing.assert_allclose(np.asarray(fa), ta.numpy().transpose(0, 2, 3, 1), atol=1e-4)
    np.testing.assert_allclose(np.asarray(fb), tb.numpy().transpose(0, 2, 3, 1), atol=1e-4)
    assert np.abs(np.asarray(fa) - np.asarray(fb)).max() > 0.05  # two different heads

    from facejax.train.state import bind

    for kind, name in (("D_SYMIX", "D_A"), ("D_MAKEMIX", "D_B")):
        d_t = torch_nets(family.config.model)["D"]
        d_t.load_state_dict(_t(exported[kind]), strict=True)
        d_j = bind(family.graphdefs[name], state.params[name])
        for img in (x, y):  # two calls: the second starts from the vectors the first left
            with torch.no_grad():
                out_t = d_t(_nchw(img)).numpy()
            out_j = np.asarray(d_j(jnp.asarray(img)))
            np.testing.assert_allclose(out_j, out_t, atol=1e-4)
        after = torch_layout.module_state_dict(d_j)
        for k, v in d_t.state_dict().items():
            np.testing.assert_allclose(after[k], v.numpy(), atol=1e-5, err_msg=k)
        assert not np.allclose(after["main.0.weight_u"], exported[kind]["main.0.weight_u"])  # it did iterate


def test_torch_to_facejax_to_torch_is_identical(family, tmp_path):
    torch.manual_seed(0)
    nets = torch_nets(family.config.model)
    with torch.no_grad():
        for net in nets.values():
            for p in net.parameters():
                p.add_(0.1 * torch.randn_like(p))
        nets["D"](torch.zeros(1, 3, 32, 32))  # u, v now the power iteration's, not the init draws
    layout = family.torch_layout()
    paths = {
        "G": str(tmp_path / "3_7_G.pth"),
        "D_SYMIX": str(tmp_path / "3_7_D_SYMIX.pth"),
        "D_MAKEMIX": str(tmp_path / "3_7_D_MAKEMIX.pth"),
    }
    torch.save(nets["G"].state_dict(), paths["G"])
    torch.save(nets["D"].state_dict(), paths["D_SYMIX"])
    torch.save(nets["D"].state_dict(), paths["D_MAKEMIX"])
    loaded = layout.load(paths)
    state = jax.jit(family.init)(root_key_data(0))
    state = state.replace(params={**state.params, **loaded})
    back = layout.export(state)
    for kind, net in (("G", "G"), ("D_SYMIX", "D"), ("D_MAKEMIX", "D")):
        sd = nets[net].state_dict()
        assert list(back[kind]) == list(sd)
        for k, v in sd.items():
            np.testing.assert_array_equal(back[kind][k], v.numpy(), err_msg=k)
    # and the files facejax writes load with the original's strict loader, under the original's names
    written = layout.write(back, str(tmp_path / "out"), step=7, fmt="torch")
    assert sorted(p.rsplit("/", 1)[1] for p in written.values()) == [
        "1_7_D_MAKEMIX.pth",
        "1_7_D_SYMIX.pth",
        "1_7_G.pth",
    ]
    g2 = torch_nets(family.config.model)["G"]
    g2.load_state_dict(torch.load(written["G"], weights_only=True), strict=True)


def test_import_files_builds_a_state_and_names_misfits(family, tmp_path):
    state = random_params(family, 3)
    layout = family.torch_layout()
    written = layout.write(layout.export(state), str(tmp_path), step=12, fmt="safetensors")
    step, new, paths, notes = family.import_files(str(tmp_path))
    assert step == 12 and set(paths) == {"G", "D_SYMIX", "D_MAKEMIX"}
    for name in ("G", "D_A", "D_B"):
        for a, b in zip(jax.tree.leaves(new.params[name]), jax.tree.leaves(state.params[name])):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any("optimizer" in n for n in notes)
    # only a generator: fresh discriminators, noted
    gdir = tmp_path / "g_only"
    gdir.mkdir()
    (gdir / "1_12_G.safetensors").write_bytes(open(written["G"], "rb").read())
    step, _, paths, notes = family.import_files(str(gdir / "1_12_G.safetensors"))
    assert step == 12 and list(paths) == ["G"] and sum("freshly initialised" in n for n in notes) == 2
    # a generator of another width: the first tensor that differs and the field that explains it
    wide = registry.create(configs.load("beautygan:synthetic", **{**SMALL, "model.g_conv_dim": 16}))
    wdir = tmp_path / "wide"
    wl = wide.torch_layout()
    wl.write({"G": wl.export(jax.jit(wide.init)(root_key_data(0)))["G"]}, str(wdir), step=5, fmt="torch")
    with pytest.raises(CheckpointMismatch, match=r"Branch_0\.0\.weight.*\[16, 3, 7, 7\].*model\.g_conv_dim=16"):
        family.import_files(str(wdir))
    with pytest.raises(FacejaxError, match="does not exist"):
        family.import_files(str(tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FacejaxError, match=r"no <epoch>_<iter>_<G\|D_cls>.*snapshot with a G file"):
        family.import_files(str(empty))
    with pytest.raises(FacejaxError, match="--with_optim"):
        layout.export(state, with_optim=True)


def test_snapshot_tags_follow_the_originals_epochs():
    assert torch_layout.step_tag(2520, 2520) == "1_2520" and torch_layout.step_tag(2521, 2520) == "2_1"
    assert torch_layout.tag_step(20, 2520, 2520, "x") == 50400
    assert torch_layout.step_tag(300, 0) == "1_300"
    with pytest.raises(FacejaxError, match="steps_per_epoch"):
        torch_layout.tag_step(2, 5, 0, "x")

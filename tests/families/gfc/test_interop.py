"""GFC <-> facejax's PyTorch reference modules (the documented layout of the Caffe networks): every key and shape
at the original's size, strict loading with equal outputs (G, both discriminators, the parsing net), identical
tensors after torch -> facejax -> torch, Caffe-named snapshot files, clear mismatch errors, and G's VGG-19 convs
read from torchvision's vgg19 file."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.export.convert import CheckpointMismatch
from facejax.families.gfc import torch_layout
from facejax.nn import vgg
from facejax.train.state import root_key_data

torch = pytest.importorskip("torch")
from facejax.families.gfc import torch_ref as ref  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def family():
    return registry.create(configs.load("gfc:synthetic"))


def torch_nets(c):
    w = tuple(int(v) for v in c.model.g.widths.split(","))
    pw = tuple(int(v) for v in c.model.parsing.widths.split(","))
    return {
        "G": ref.ModelG(c.img_size, w, c.model.g.dec_width, c.model.g.fc_dim),
        "D_local": ref.Discriminator(c.mask.size, c.model.d.local_base, c.model.d.max_width, 1),
        "D_global": ref.Discriminator(c.img_size, c.model.d.global_base, c.model.d.max_width, 0),
        "P": ref.ModelParsing(pw, c.model.parsing.last_width, c.model.parsing.num_classes),
    }


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def random_state(family, seed):
    """A fresh state with every bias random too (so that each mapping is tested)."""
    state = jax.jit(family.init)(root_key_data(seed))
    rng = np.random.default_rng(seed)

    def fill(path, x):
        return jnp.asarray(0.1 * rng.standard_normal(x.shape), jnp.float32) if path[-1].key == "bias" else x

    return state.replace(
        params=jax.tree_util.tree_map_with_path(fill, state.params),
        frozen=jax.tree_util.tree_map_with_path(fill, state.frozen),
    )


def test_full_size_keys_and_shapes_are_the_prototxts():
    cfg = configs.load("gfc:celeba")
    layout = torch_layout.TorchLayout(cfg, ("G", "D_local", "D_global"))
    with torch.device("meta"):
        nets = torch_nets(cfg)
    for name in ("G", "D_local", "D_global", "P"):
        sd = nets[name].state_dict()
        assert layout.nets[name].keys() == list(sd), name
        assert layout.nets[name].shapes() == {k: tuple(v.shape) for k, v in sd.items()}, name
    g, loc, glo, p = (layout.nets[n].shapes() for n in ("G", "D_local", "D_global", "P"))
    assert len(g) == 46 and g["fc3.weight"] == (4096, 16384) and g["defc3.weight"] == (16384, 4096)
    assert g["conv1_1_new.weight"] == (64, 32, 3, 3) and g["reconstruction_new.weight"] == (3, 32, 3, 3)
    assert g["conv_decode3_1.weight"] == (128, 64, 3, 3) and g["conv_decode1_1_new.weight"] == (32, 64, 3, 3)
    assert loc["conv4_2.weight"] == (512, 512, 4, 4) and loc["conv5.weight"] == (1, 512, 4, 4)
    assert glo["conv0_1.weight"] == (32, 3, 3, 3) and glo["conv5.weight"] == (1, 512, 4, 4)
    assert p["conv5_4.weight"] == (512, 512, 3, 3) and p["conv_decode0.weight"] == (11, 32, 3, 3)
    assert sum(int(np.prod(s)) for s in g.values()) == 137_071_331
    assert list(layout.kinds) == ["Model_G", "Model_localD", "Model_globalD", "Model_parsing"]


# The convolution layers of the original's prototxts (Model_localD.prototxt, Model_globalD.prototxt), in order,
# with (output channels, kernel, stride): the global D has one more leading stage, conv0, and both end in conv5.
LOCAL_D_PROTOTXT = [
    ("conv1_1", 64, 3, 1),
    ("conv1_2", 64, 4, 2),
    ("conv2_1", 128, 3, 1),
    ("conv2_2", 128, 4, 2),
    ("conv3_1", 256, 3, 1),
    ("conv3_2", 256, 4, 2),
    ("conv4_1", 512, 3, 1),
    ("conv4_2", 512, 4, 2),
    ("conv5", 1, 4, 1),
]
GLOBAL_D_PROTOTXT = [("conv0_1", 32, 3, 1), ("conv0_2", 32, 4, 2)] + LOCAL_D_PROTOTXT


def test_discriminator_layers_line_up_with_the_prototxts():
    """Model, PyTorch reference and export name each discriminator layer as its prototxt, in the prototxt's order
    with its widths; a 128 px image reaches conv5 as 4x4 in both."""
    cfg = configs.load("gfc:celeba")
    layout = torch_layout.TorchLayout(cfg, ("G", "D_local", "D_global"))
    with torch.device("meta"):
        nets = torch_nets(cfg)
    for name, proto in (("D_local", LOCAL_D_PROTOTXT), ("D_global", GLOBAL_D_PROTOTXT)):
        want = [f"{layer}.{p}" for layer, *_ in proto for p in ("weight", "bias")]
        assert layout.nets[name].keys() == want, name
        assert list(nets[name].state_dict()) == want, name
        shapes = layout.nets[name].shapes()
        for layer, out, k, stride in proto:
            assert shapes[f"{layer}.weight"][0] == out and shapes[f"{layer}.weight"][2:] == (k, k), (name, layer)
            assert getattr(nets[name], layer).stride == (stride, stride), (name, layer)
        abstract = registry.create(cfg)._abstract[name]
        assert sorted(abstract) == sorted(layer for layer, *_ in proto), name


def test_strict_load_gives_the_same_outputs(family):
    state = random_state(family, 1)
    exported = family.torch_layout().export(state)
    nets = torch_nets(family.config)
    for kind, net in torch_layout.KINDS.items():
        nets[net].load_state_dict({k: torch.from_numpy(v) for k, v in exported[kind].items()}, strict=True)
        nets[net].eval()
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    patch = x[:, 4:20, 8:24]
    p = state.sampling_params()
    with torch.no_grad():
        want = {
            "G": nets["G"](_nchw(x)).numpy().transpose(0, 2, 3, 1),
            "D_local": nets["D_local"](_nchw(patch)).numpy(),
            "D_global": nets["D_global"](_nchw(x)).numpy(),
            "P": nets["P"](_nchw(x)).numpy().transpose(0, 2, 3, 1),
        }
    fwd = jax.jit(
        lambda p, x, patch: {  # one compilation (op-by-op dispatch compiles every op)
            "G": family.generate(p["G"], x),
            "D_local": family.discriminate("D_local", p["D_local"], patch),
            "D_global": family.discriminate("D_global", p["D_global"], x),
            "P": family.parse(p["P"], x),
        }
    )
    got = fwd(p, x, patch)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], atol=1e-4, rtol=1e-4, err_msg=k)
        assert np.abs(want[k]).max() > 1e-3, k


def test_torch_to_facejax_to_torch_is_identical_and_import_names_misfits(family, tmp_path):
    torch.manual_seed(0)
    nets = torch_nets(family.config)
    layout = family.torch_layout()
    paths = {}
    for kind, net in torch_layout.KINDS.items():
        paths[kind] = str(tmp_path / f"{kind}_iter_7.pth")
        torch.save(nets[net].state_dict(), paths[kind])
    step, state, found, notes = family.import_files(str(tmp_path))
    assert step == 7 and found == paths and any("optimizer" in n for n in notes)
    back = layout.export(state)
    for kind, net in torch_layout.KINDS.items():
        for k, v in nets[net].state_dict().items():
            np.testing.assert_array_equal(back[kind][k], v.numpy(), err_msg=k)
    assert state.ema == {} and sorted(state.params) == ["D_global", "D_local", "G"] and list(state.frozen) == ["P"]
    written = layout.write(back, str(tmp_path / "out"), 9, "safetensors")
    assert sorted(p.rsplit("/", 1)[1] for p in written.values()) == [
        "Model_G_iter_9.safetensors",
        "Model_globalD_iter_9.safetensors",
        "Model_localD_iter_9.safetensors",
        "Model_parsing_iter_9.safetensors",
    ]
    # a generator of another width: the first tensor that differs, and the fields that decide it
    wide = registry.create(configs.load("gfc:synthetic", **{"model.g.widths": "8,16,32,64"}))
    wdir = tmp_path / "wide"
    wl = wide.torch_layout()
    wl.write({"Model_G": wl.export(zeros_state(wide))["Model_G"]}, str(wdir), 3, "torch")
    with pytest.raises(CheckpointMismatch, match=r"conv3_1\.weight.*\[64, 32, 3, 3\].*config\.model\.g\.widths"):
        family.import_files(str(wdir))
    with pytest.raises(FacejaxError, match="no Model_G_iter_<N>.pth snapshot"):
        family.import_files(str(_empty(tmp_path)))
    with pytest.raises(FacejaxError, match="--with_optim"):
        layout.export(state, with_optim=True)


def zeros_state(family):
    """A state of the right structure without compiling the initialisers."""
    return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), jax.eval_shape(family.init, root_key_data(0)))


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir(exist_ok=True)
    return d


def test_generator_vgg_convs_from_torchvision_vgg19(tmp_path):
    tv = pytest.importorskip("torchvision")
    features = tv.models.vgg.make_layers(tv.models.vgg.cfgs["E"])  # vgg19().features
    sd = {f"features.{k}": v for k, v in features.state_dict().items() if int(k.split(".")[0]) <= 16}
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(sd, path)
    cfg = configs.load(
        "gfc:synthetic",
        **{
            "model.g.widths": "8,64,128,256",
            "model.g.fc_dim": 16,
            "vgg19_weights": str(path),
            "stages.local_end": 10_000,
        },
    )
    family = registry.create(cfg)
    state = family.load_pretrained(zeros_state(family))
    np.testing.assert_array_equal(
        np.asarray(state.params["G"]["conv2_1"]["kernel"]), sd["features.5.weight"].numpy().transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(np.asarray(state.params["G"]["conv3_4"]["bias"]), sd["features.16.bias"].numpy())
    with pytest.raises(FacejaxError, match=r"VGG-19's widths.*config.model.g.widths='8,16,32,32'"):
        registry.create(
            configs.load("gfc:synthetic", **{"vgg19_weights": str(path), "stages.local_end": 10_000})
        ).load_pretrained(state)
    with pytest.raises(FacejaxError, match=r"VGG-19 weights \(config.vgg19_weights\).*vgg19-dcbb9e9d.pth"):
        vgg.load_vgg19(str(tmp_path / "nope.pth"), ["conv1_2"])
    vgg16 = tmp_path / "vgg16.npz"  # VGG-16's conv3_3 is features.14 with no features.16
    np.savez(
        vgg16,
        **{
            "features.14.weight": np.zeros((256, 256, 3, 3), np.float32),
            "features.17.weight": np.zeros((512, 256, 3, 3), np.float32),
        },
    )
    with pytest.raises(FacejaxError, match=r"not torchvision's VGG-19.*missing features\.16\.weight"):
        vgg.load_vgg19(str(vgg16), ["conv3_4"])

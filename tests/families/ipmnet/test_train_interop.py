"""IPM-Net's input and training iteration, its commands, and the original's checkpoint files: masks and textures
from parsing maps (against a NumPy transcription of the MATLAB script), the tf.data batches, one compilation of
the sharded step, the Adam quirks and the StepLR schedule, export -> strict load -> import round trip, sample
with the level sweep, and clear errors."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from tests.families.ipmnet.conftest import TINY

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.families.ipmnet import identity, preprocess
from facejax.train import mesh as mesh_lib
from facejax.train import trainer
from facejax.train.state import root_key_data


def numpy_texture(rgb_uint8, parsing):
    """highcontract_texture.m in NumPy: blue * (1 - mask) - imfilter(., gaussian 10x10 sigma 2) (zero padding,
    the centre at element 5 of 10, uint8 rounding and saturation)."""
    mask = np.where(np.isin(parsing, (1, 2, 3, 6, 7, 9)), 0, 255).astype(np.float64)
    blue = rgb_uint8[..., 2].astype(np.float64) * (1 - np.round(mask / 255))
    r = np.arange(10) - 4.5
    h = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / 8.0)
    h /= h.sum()
    p = np.pad(blue, ((4, 5), (4, 5)))
    out = np.zeros_like(blue)
    for i in range(10):
        for j in range(10):
            out += h[i, j] * p[i : i + blue.shape[0], j : j + blue.shape[1]]
    blur = np.floor(out + 0.5)
    return mask, np.clip(blue - blur, 0, 255)


def test_mask_and_texture_match_the_matlab_script():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    parsing = rng.integers(0, 14, (40, 40))
    want_mask, want_tex = numpy_texture(img, parsing)
    mask, tex = preprocess.maps_from_parsing(img.astype(np.float32), parsing[..., None])
    np.testing.assert_array_equal(mask.numpy()[..., 0] * 255, want_mask)
    assert set(np.unique(parsing[mask.numpy()[..., 0] == 0])) == {1, 2, 3, 6, 7, 9}
    np.testing.assert_allclose(tex.numpy()[..., 0] * 255, want_tex, atol=1e-3)
    assert want_tex.max() > 50 and (want_tex[want_mask > 0] == 0).all()


def test_prepare_maps_and_sample_folders(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "faces" / "images").mkdir(parents=True)
    (tmp_path / "faces" / "segs").mkdir()
    for n in ("f1", "f2"):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(
            tmp_path / "faces" / "images" / f"{n}.png"
        )
        Image.fromarray(rng.integers(0, 14, (40, 40), dtype=np.uint8)).save(tmp_path / "faces" / "segs" / f"{n}.png")
    res = preprocess.write_maps(
        str(tmp_path / "faces" / "images"), str(tmp_path / "faces" / "segs"), str(tmp_path / "prepared")
    )
    assert res["images"] == 2
    assert sorted(os.listdir(tmp_path / "prepared")) == ["highcontract", "images", "mask"]
    a = preprocess.read_maps(
        str(tmp_path / "faces" / "images" / "f1.png"), str(tmp_path / "faces" / "segs" / "f1.png"), 32, 36
    )
    b = preprocess.read_map_files(
        *(str(tmp_path / "prepared" / d / "f1.png") for d in ("images", "mask", "highcontract")), 32, 36
    )
    for x, y in zip(a[1:], b[1:]):  # the maps (prepare's image is stored at the parsing map's size)
        assert x.shape == (32, 32, 1)
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert a[0].shape == b[0].shape == (32, 32, 3)
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "faces" / "segs" / "f2.png")
    with pytest.raises(FacejaxError, match="values above 13"):
        preprocess.read_parsing(str(tmp_path / "faces" / "segs" / "f2.png"))


@pytest.fixture(scope="module")
def trained(synthetic_tfds, tmp_path_factory):
    """Two steps of a tiny config through the shared trainer (checkpoint at step 2)."""
    cfg = configs.load("ipmnet:synthetic", **{**TINY, "data.data_dir": synthetic_tfds, "total_steps": 2})
    work = str(tmp_path_factory.mktemp("ipm") / "run")
    trainer.train(cfg, work)
    return cfg, work


def test_batches_and_one_sharded_compilation(trained, synthetic_tfds, tmp_path):
    cfg, _ = trained
    run = trainer.Run(cfg, str(tmp_path / "run"))
    assert run.mesh.devices.size == 4
    it = iter(run.family.train_dataset(cfg.batch_size, 0, 1))
    state = run.restore_or_init()
    before, frozen = jax.device_get(state.params), jax.device_get(state.frozen)
    for _ in range(2):
        b = jax.tree.map(lambda t: t._numpy(), next(it))
        assert b["x_a"].shape == (4, 32, 32, 3) and b["m_b"].shape == b["t_a"].shape == (4, 32, 32, 1)
        # the mask and texture are the parsing map's and image's (pairing 'random': A = makeup faces)
        np.testing.assert_array_equal(b["m_a"][..., 0] == 0, np.isin(b["parsing_a"][..., 0], (1, 2, 3, 6, 7, 9)))
        assert (b["t_a"][b["m_a"] > 0] == 0).all() and b["t_a"].max() > 0
        state, metrics = run.step_fn(state, mesh_lib.global_batch(b, run.mesh))
    assert run.step_fn._cache_size() == 1, "the train step recompiled"
    metrics = jax.device_get(metrics)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for k in ("D/gp_a", "G/vgg_a", "G/back_b", "G/fore_a", "G/recon_s_a", "G/gan_b"):
        assert float(metrics[k]) > 0, k
    after = jax.device_get(state.params)
    assert set(after) == {"G", "D_A", "D_B"} and state.ema == {}  # no EMA in the original; R is frozen
    np.testing.assert_array_equal(frozen["R"]["conv1"]["kernel"], jax.device_get(state.frozen["R"]["conv1"]["kernel"]))
    assert not np.allclose(
        before["G"]["mlp"]["model"][0]["fc"]["kernel"], after["G"]["mlp"]["model"][0]["fc"]["kernel"]
    )
    run.checkpointer.close()


def test_adam_double_step_weight_decay_and_step_lr():
    cfg = configs.load("ipmnet:synthetic", **{**TINY, "lr_step": 3, "lr_gamma": 0.5})
    fam = registry.create(cfg)
    assert [float(fam.learning_rate(jnp.int32(i))) for i in (0, 1, 2, 5)] == pytest.approx(
        [1e-3, 1e-3, 5e-4, 2.5e-4]
    )  # StepLR stepped before each iteration's updates
    p = {"G": {"w": jnp.array([1.0, -2.0])}}
    o = {"G": fam.optimizers["G"].init(p["G"])}
    g = {"w": jnp.array([0.5, 0.25])}
    p2, o2 = fam._apply("G", p, o, g, 0.1, times=2)
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.Adam([w, w], lr=0.1, betas=(0.5, 0.999), weight_decay=1e-4, foreach=False)
    w.grad = torch.tensor([0.5, 0.25])
    opt.step()  # the original's duplicated parameter list: one step() updates w twice
    np.testing.assert_allclose(np.asarray(p2["G"]["w"]), w.detach().numpy(), atol=1e-5)
    p1, _ = fam._apply("G", p, o, g, 0.1, times=1)  # one step is another result (the intended behaviour)
    assert np.abs(np.asarray(p1["G"]["w"]) - w.detach().numpy()).min() > 0.05


def test_export_strict_import_and_commands(trained, tmp_path):
    torch = pytest.importorskip("torch")
    from tests.families.beautygan.test_sample_eval import command

    cfg, work = trained
    out = json.loads(command("export", cfg, workdir=work, out=str(tmp_path / "pt"), json=True).strip().splitlines()[-1])
    assert sorted(os.listdir(tmp_path / "pt")) == ["dis_00000002.pt", "gen_00000002.pt"]
    gen = torch.load(out["gen"], weights_only=True)
    assert sorted(gen) == ["a", "b"] and all(torch.equal(gen["a"][k], gen["b"][k]) for k in gen["a"])
    from tests.families.ipmnet.test_model import dis_params, gen_params

    from facejax.families.ipmnet import torch_ref as ref

    ref.AdaINGen(3, gen_params(cfg.model.gen)).load_state_dict(gen["a"], strict=True)
    dis = torch.load(out["dis"], weights_only=True)
    ref.MsImageDis(3, dis_params(cfg.model.dis)).load_state_dict(dis["b"], strict=True)
    res = json.loads(
        command("import", cfg, workdir=str(tmp_path / "new"), json=True, **{"from": str(tmp_path / "pt")})
        .strip()
        .splitlines()[-1]
    )
    assert res["step"] == 2
    old, new = trainer.Run(cfg, work).restore_state(), trainer.Run(cfg, str(tmp_path / "new")).restore_state()
    for net in ("G", "D_A", "D_B"):
        for a, b in zip(
            jax.tree.leaves(jax.device_get(old.params[net])), jax.tree.leaves(jax.device_get(new.params[net]))
        ):
            np.testing.assert_array_equal(a, b)
    # --format=safetensors writes files that import reads back, bit for bit
    layout = registry.create(cfg).torch_layout()
    layout.write(layout.export(old), str(tmp_path / "st"), step=2, fmt="safetensors")
    step, paths = layout.find(str(tmp_path / "st" / "dis_00000002.safetensors"))
    assert step == 2 and sorted(paths) == ["dis", "gen"]
    loaded, _ = layout.load(paths)
    for net in ("G", "D_A", "D_B"):
        for a, b in zip(jax.tree.leaves(jax.device_get(old.params[net])), jax.tree.leaves(loaded[net])):
            np.testing.assert_array_equal(a, np.asarray(b))
    with pytest.raises(FacejaxError, match="no gen file of step 3.*steps there: 2"):
        layout.find(str(tmp_path / "st"), step=3)
    # a file of another width names the field
    with pytest.raises(FacejaxError, match=r"model\.gen\.dim"):
        registry.create(configs.load("ipmnet:synthetic", **{**TINY, "model.gen.dim": 8})).torch_layout().load(
            {"gen": out["gen"]}
        )
    counts = json.loads(command("params", configs.load("ipmnet:mt"), json=True).strip().splitlines()[-1])
    assert counts["G"] == 15_088_863 and counts["D_A"] == counts["D_B"] == 8_271_171


def test_sample_command_writes_pairs_and_the_level_sweep(trained, tmp_path):
    from tests.families.beautygan.test_sample_eval import command

    cfg, work = trained
    rng = np.random.default_rng(0)
    for d in ("src/images", "src/segs", "ref"):
        (tmp_path / d).mkdir(parents=True)
    for n in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "src/images" / f"{n}.png")
        Image.fromarray(rng.integers(0, 14, (40, 40), dtype=np.uint8)).save(tmp_path / "src/segs" / f"{n}.png")
    for n in ("r1", "r2", "r3"):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "ref" / f"{n}.png")
    res = json.loads(
        command(
            "sample",
            cfg,
            workdir=work,
            out=str(tmp_path / "out"),
            src=str(tmp_path / "src"),
            ref=str(tmp_path / "ref"),
            json=True,
        )
        .strip()
        .splitlines()[-1]
    )
    assert res["pairs"] == 6
    assert sorted(os.listdir(tmp_path / "out" / "makeup")) == [
        f"{s}__{r}.png" for s in "ab" for r in ("r1", "r2", "r3")
    ]
    with Image.open(tmp_path / "out" / "levels" / "a__r2.png") as im:
        assert im.size == (7 * 34 + 2, 36)  # source, reference, 5 levels
    # the file is the generator's output at level 0, min-max stretched as the original saves it
    from facejax.families.ipmnet import sample

    fam = registry.create(cfg)
    state = trainer.Run(cfg, work).restore_state()
    x, m, t = preprocess.read_maps(str(tmp_path / "src/images/b.png"), str(tmp_path / "src/segs/b.png"), 32, 32)
    _, r = sample.read_references(str(tmp_path / "ref"), cfg)
    out = fam.makeup(jax.device_get(state.params["G"]), x[None], m[None], t[None], r[2:3], 0.0, 0.5)
    with Image.open(tmp_path / "out" / "makeup" / "b__r3.png") as im:
        np.testing.assert_allclose(np.asarray(im), sample.to_display(np.asarray(out))[0], atol=1)
    # facejax.api: the same files from arrays, with the parsing maps as a keyword
    from facejax import api

    model = api.Model(cfg, fam, state, int(state.step))
    srcs = [str(tmp_path / "src/images" / f"{n}.png") for n in "ab"]
    arrays = model.translate(
        srcs,
        ref=[str(tmp_path / "ref" / f"{n}.png") for n in ("r1", "r2", "r3")],
        parsing=[str(tmp_path / "src/segs" / f"{n}.png") for n in "ab"],
    )
    assert arrays.shape == (2, 3, 32, 32, 3) and arrays.dtype == np.uint8
    for i, s in enumerate("ab"):
        for j, r in enumerate(("r1", "r2", "r3")):
            with Image.open(tmp_path / "out" / "makeup" / f"{s}__{r}.png") as im:
                np.testing.assert_array_equal(arrays[i, j], np.asarray(im))
    with pytest.raises(FacejaxError, match="give parsing="):
        model.translate(srcs, ref=srcs)
    with pytest.raises(FacejaxError, match="segs/"):
        command(
            "sample", cfg, workdir=work, out=str(tmp_path / "o2"), src=str(tmp_path / "ref"), ref=str(tmp_path / "ref")
        )


def test_identity_weights_file_errors_and_loading(tmp_path):
    cfg = configs.load(
        "ipmnet:synthetic",
        **{**TINY, "identity.pretrained": True, "identity.weights": str(tmp_path / "resnet50_ft_weight.pkl")},
    )
    fam = registry.create(cfg)
    state = jax.jit(fam.init)(root_key_data(0))
    with pytest.raises(FacejaxError, match=r"config\.identity\.weights.*resnet50_ft_weight\.pkl.*cydonia999"):
        fam.load_pretrained(state)
    # a pickle of {name: array} as cydonia999's, with an unused fc
    import pickle

    from facejax.export import convert

    sd = convert.to_torch(jax.device_get(state.frozen["R"]), fam.identity_layout())
    sd = {k: np.asarray(v) + 0.5 for k, v in sd.items()}
    sd["fc.weight"] = np.zeros((3, 2), np.float32)
    with open(tmp_path / "resnet50_ft_weight.pkl", "wb") as f:
        pickle.dump(sd, f)
    loaded = fam.load_pretrained(state)
    np.testing.assert_allclose(
        np.asarray(loaded.frozen["R"]["conv1"]["kernel"]),
        np.asarray(state.frozen["R"]["conv1"]["kernel"]) + 0.5,
        rtol=1e-6,
    )
    with open(tmp_path / "resnet50_ft_weight.pkl", "wb") as f:
        pickle.dump({"conv1.weight": os.system}, f)  # anything but arrays is refused
    with pytest.raises(FacejaxError, match="not a readable"):
        identity.read(str(tmp_path / "resnet50_ft_weight.pkl"))


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("img_size", 40, "multiple of 16"),
        ("model.dis.n_layer", 4, "below 2 px"),
        ("data.pairing", "shuffle", "zip"),
        ("sample.alphas", "0,2", "sample.alphas"),
        ("texture_u", 1.5, "texture_u"),
    ],
)
def test_wrong_values_name_the_field(field, value, message):
    with pytest.raises(FacejaxError, match=message):
        registry.create(configs.load("ipmnet:synthetic", **{field: value}))

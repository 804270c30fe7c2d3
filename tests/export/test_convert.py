"""The generic flax <-> PyTorch machinery: transforms, layout walking, exactly-once / shape / dtype checks,
clear mismatch errors. A toy family (no torch needed) stands in for the real ones."""

import collections

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from facejax.errors import FacejaxError
from facejax.export import convert
from facejax.export.convert import Buffer, CheckpointMismatch, LayoutSpec
from facejax.nn.layers import Conv2d, InstanceNorm, LeakyReLU, Linear


class Block(nnx.Module):
    def __init__(self, c, *, rngs):
        self.norm = InstanceNorm(c, affine=True)
        self.conv = Conv2d(c, 2 * c, 3, 1, 1, rngs=rngs)
        self.skip = Conv2d(c, 2 * c, 1, 1, 0, use_bias=False, rngs=rngs) if c > 2 else None


class Filter(nnx.Module):
    def __init__(self, w):
        self.w = w


class Toy(nnx.Module):
    """PyTorch registers: head, layers, filter (buffer), fc."""

    def __init__(self, c=2, k=3, *, rngs):
        self.fc = Linear(4 * c, k, rngs=rngs)
        self.layers = nnx.List([Block(c, rngs=rngs), LeakyReLU(0.2), Block(2 * c, rngs=rngs)])
        self.head = Conv2d(3, c, 3, 1, 1, rngs=rngs)
        self.filt = Filter(2.0)


SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={"Toy": ("head", "layers", "filt", "fc"), "Block": ("conv", "norm", "skip"), "Filter": ("filter",)},
        buffers={
            "Filter": {
                "filter": Buffer(lambda m: np.full((2, 2), 1.0 / m.w, np.float32), optional=True, field="model.w")
            }
        },
    )
)


def _toy(seed=0, **kw):
    toy = Toy(rngs=nnx.Rngs(seed), **kw)
    rng = np.random.default_rng(seed)
    params = nnx.to_pure_dict(nnx.state(toy, nnx.Param))
    filled = convert.unflatten(
        {p: rng.standard_normal(np.shape(v)).astype(np.float32) for p, v in convert.flatten(params).items()}
    )
    return toy, filled


def test_transforms_are_exact_inverses():
    a = np.random.default_rng(0).standard_normal((3, 5, 7, 11)).astype(np.float32)  # HWIO
    t = convert.transform_to_torch(a, "conv")
    assert t.shape == (11, 7, 3, 5) == convert.shape_to_torch(a.shape, "conv")
    assert t[4, 2, 1, 3] == a[1, 3, 2, 4]
    np.testing.assert_array_equal(convert.transform_to_flax(t, "conv"), a)
    d = a[0, 0]
    np.testing.assert_array_equal(convert.transform_to_torch(d, "dense"), d.T)
    scalar = np.asarray(7, np.int64)
    assert convert.transform_to_flax(scalar, "none").shape == ()


def test_layout_follows_registration_order_names_and_buffers():
    toy, _ = _toy()
    net = convert.layout(toy, SPEC, "toy")
    assert net.keys() == [
        "head.weight", "head.bias",
        "layers.0.conv.weight", "layers.0.conv.bias", "layers.0.norm.weight", "layers.0.norm.bias",
        "layers.2.conv.weight", "layers.2.conv.bias", "layers.2.norm.weight", "layers.2.norm.bias",
        "layers.2.skip.weight",
        "filt.filter", "fc.weight", "fc.bias"]  # fmt: skip
    shapes = net.shapes()
    assert shapes["head.weight"] == (2, 3, 3, 3) and shapes["fc.weight"] == (3, 8)
    assert shapes["layers.2.skip.weight"] == (8, 4, 1, 1) and shapes["filt.filter"] == (2, 2)
    by = net.by_key()
    assert by["fc.weight"].transform == "dense" and by["head.weight"].transform == "conv"
    assert by["layers.0.norm.weight"].path == ("layers", 0, "norm", "scale")
    assert by["filt.filter"].is_buffer and by["filt.filter"].optional
    assert [t.key for t in net.parameters()] == [k for k in net.keys() if k != "filt.filter"]
    # abstract modules give the same layout
    assert convert.layout(nnx.eval_shape(lambda: Toy(rngs=nnx.Rngs(0))), SPEC, "toy") == net


def test_round_trip_is_identity_and_values_land_in_place():
    toy, params = _toy(1)
    net = convert.layout(toy, SPEC, "toy")
    sd = convert.to_torch(params, net)
    assert isinstance(sd, collections.OrderedDict) and list(sd) == net.keys()
    np.testing.assert_array_equal(
        sd["layers.2.skip.weight"][5, 3, 0, 0], params["layers"][2]["skip"]["kernel"][0, 0, 3, 5]
    )
    np.testing.assert_array_equal(sd["fc.weight"], params["fc"]["kernel"].T)
    np.testing.assert_array_equal(sd["filt.filter"], np.full((2, 2), 0.5))
    back = convert.from_torch(sd, net, source="mem")
    for path, value in convert.flatten(params).items():
        np.testing.assert_array_equal(convert.flatten(back)[path], value)
    assert set(convert.flatten(back)) == set(convert.flatten(params))


def test_module_prefix_and_missing_optional_buffer_are_accepted():
    toy, params = _toy(2)
    net = convert.layout(toy, SPEC, "toy")
    sd = convert.to_torch(params, net)
    wrapped = {f"module.{k}": v for k, v in sd.items() if k != "filt.filter"}
    back = convert.from_torch(wrapped, net, source="mem")
    np.testing.assert_array_equal(back["fc"]["kernel"], params["fc"]["kernel"])


def test_every_parameter_is_mapped_exactly_once():
    toy, params = _toy()
    net = convert.layout(toy, SPEC, "toy")
    extra = dict(params, stray={"kernel": np.zeros((1, 1), np.float32)})
    with pytest.raises(ValueError, match="not mapped to any PyTorch key.*stray"):
        convert.to_torch(extra, net)
    missing = {k: v for k, v in params.items() if k != "fc"}
    with pytest.raises(ValueError, match="fc.kernel"):
        convert.to_torch(missing, net)
    with pytest.raises(ValueError, match="no PyTorch order for module class Block"):
        convert.layout(toy, convert.BASE_SPEC.merged(LayoutSpec(order={"Toy": ("head", "layers", "fc")})), "toy")
    with pytest.raises(ValueError, match=r"\['skip'\] hold parameters"):
        convert.layout(toy, SPEC.merged(LayoutSpec(order={"Block": ("conv", "norm")})), "toy")


def test_mismatches_name_the_first_tensor_and_the_file():
    toy, params = _toy()
    net = convert.layout(toy, SPEC, "toy")
    sd = convert.to_torch(params, net)

    bad = dict(sd)
    bad["layers.0.conv.weight"] = np.zeros((4, 2, 5, 5), np.float32)
    bad["fc.weight"] = np.zeros((5, 8), np.float32)
    with pytest.raises(
        CheckpointMismatch,
        match=r"f\.ckpt \[toy\]: tensor 'layers\.0\.conv\.weight' has shape "
        r"\[4, 2, 5, 5\] in the file, this config expects \[4, 2, 3, 3\]",
    ):
        convert.from_torch(bad, net, source="f.ckpt")
    with pytest.raises(CheckpointMismatch, match="'layers.2.skip.weight' .* missing"):
        convert.from_torch({k: v for k, v in sd.items() if k != "layers.2.skip.weight"}, net, source="f.ckpt")
    with pytest.raises(CheckpointMismatch, match=r"'extra.bias' \[3\] is in the file but not"):
        convert.from_torch({**sd, "extra.bias": np.zeros(3, np.float32)}, net, source="f.ckpt")
    assert convert.from_torch({**sd, "extra.bias": np.zeros(3, np.float32)}, net, source="f", ignore_unexpected=True)
    with pytest.raises(CheckpointMismatch, match="'head.bias' has dtype float64, expected float32"):
        convert.from_torch({**sd, "head.bias": sd["head.bias"].astype(np.float64)}, net, source="f.ckpt")
    with pytest.raises(CheckpointMismatch, match=r"buffer .filt.filter. differs .*config\.model\.w"):
        convert.from_torch({**sd, "filt.filter": np.ones((2, 2), np.float32)}, net, source="f.ckpt")
    assert issubclass(CheckpointMismatch, FacejaxError)


def test_explain_finds_the_config_field_that_makes_the_file_fit():
    def layout_for(cfg):
        return convert.layout(nnx.eval_shape(lambda: Toy(rngs=nnx.Rngs(0), **cfg)), SPEC, "toy")

    current = {"c": 2, "k": 3}
    file_net = layout_for({"c": 2, "k": 5})
    hint = convert.explain_mismatch(
        file_net.shapes(), current, [("c", [1, 2, 4]), ("k", [1, 5])], lambda change: layout_for({**current, **change})
    )
    assert "config.k=5" in hint and "(this config has 3)" in hint
    none = convert.explain_mismatch(
        {"nothing.weight": (1,)}, current, [("c", [4])], lambda change: layout_for({**current, **change})
    )
    assert "no single config field" in none
    toy, params = _toy(k=5)
    with pytest.raises(CheckpointMismatch, match=r"'fc\.weight' has shape \[5, 8\].*config\.k=5"):
        convert.from_torch(
            convert.to_torch(params, convert.layout(toy, SPEC)),
            layout_for(current),
            source="f",
            explain=lambda shapes: convert.explain_mismatch(
                shapes, current, [("k", [5])], lambda ch: layout_for({**current, **ch})
            ),
        )


def test_integer_counters_round_trip_as_int64():
    class Counter(nnx.Module):
        def __init__(self):
            self.scale = nnx.Param(jnp.ones((2,), jnp.float32))
            self.num_batches_tracked = nnx.Param(jnp.zeros((), jnp.int32))

    spec = LayoutSpec(order={"Counter": ("scale", "num_batches_tracked")})
    net = convert.layout(Counter(), spec, "c")
    assert [(t.key, t.torch_dtype, t.optional) for t in net.tensors] == [
        ("weight", "float32", False),
        ("num_batches_tracked", "int64", True),
    ]
    sd = convert.to_torch({"scale": np.ones(2, np.float32), "num_batches_tracked": np.asarray(9, np.int32)}, net)
    assert sd["num_batches_tracked"].dtype == np.int64 and sd["num_batches_tracked"].shape == ()
    back = convert.from_torch({"weight": np.ones(2, np.float32)}, net, source="old.ckpt")  # old PyTorch: no counter
    assert back["num_batches_tracked"] == 0 and back["num_batches_tracked"].dtype == np.int32

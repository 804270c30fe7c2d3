"""IPM-Net's own config fields: their checks and the values parsed from them (the trainer checks its own fields).

Its own module so that the family, the sampler and the PyTorch layout read them without importing each other.
"""

from __future__ import annotations

from facejax.errors import FacejaxError
from facejax.families.ipmnet import model

WEIGHTS = ("gan_w", "recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "vgg_w", "back_w", "fore_w", "gp_w")


def validate(config) -> None:
    """One clear error per wrong value of IPM-Net's fields, naming the field and what was expected."""
    c, g, d = config, config.model.gen, config.model.dis
    down = 2 ** max(g.n_downsample, 4)
    if c.img_size < 16 or c.img_size % down:
        raise FacejaxError(
            f"config.img_size={c.img_size}: expected a multiple of {down} (the style encoder "
            f"downsamples 4 times, the content encoder model.gen.n_downsample times)"
        )
    if c.data.load_size < c.img_size:
        raise FacejaxError(
            f"config.data.load_size={c.data.load_size}: expected >= img_size={c.img_size} (images "
            f"are resized to load_size, then centre-cropped to img_size)"
        )
    for name, low in (("dim", 1), ("mlp_dim", 1), ("style_dim", 1), ("n_downsample", 0), ("n_res", 0)):
        if g[name] < low:
            raise FacejaxError(f"config.model.gen.{name}={g[name]}: expected >= {low}")
    for name in ("dim", "n_layer", "num_scales"):
        if d[name] < 1:
            raise FacejaxError(f"config.model.dis.{name}={d[name]}: expected >= 1")
    for sub, node in (("gen", g), ("dis", d)):
        if node.pad_type not in model.PAD_MODES:
            raise FacejaxError(
                f"config.model.{sub}.pad_type={node.pad_type!r}: expected one of {', '.join(model.PAD_MODES)}"
            )
    if 0 in model.score_sizes(c.img_size, d.n_layer, d.num_scales):
        raise FacejaxError(
            f"config.model.dis.n_layer={d.n_layer} with num_scales={d.num_scales} shrinks "
            f"img_size={c.img_size} below 2 px at the coarsest scale; use fewer layers or scales"
        )
    if c.lr_step < 1:
        raise FacejaxError(f"config.lr_step={c.lr_step}: expected >= 1")
    for name in WEIGHTS + ("lr", "weight_decay", "lr_gamma"):
        if c[name] < 0:
            raise FacejaxError(f"config.{name}={c[name]}: expected >= 0")
    for field, u in (
        ("texture_u", c.texture_u),
        ("eval.texture_u", c.eval.texture_u),
        ("sample.texture_u", c.sample.texture_u),
    ):
        if not 0.0 <= u <= 1.0:
            raise FacejaxError(f"config.{field}={u}: expected a value in [0, 1] (scale 2 * (0.8 + 0.4 u))")
    if c.data.map_filter not in ("bilinear", "nearest"):
        raise FacejaxError(
            f"config.data.map_filter={c.data.map_filter!r}: expected 'bilinear' (the original's PIL Resize of the "
            f"mask and texture files) or 'nearest'"
        )
    if c.data.pairing not in ("zip", "random"):
        raise FacejaxError(f"config.data.pairing={c.data.pairing!r}: expected 'zip' (the original) or 'random'")
    if c.sample.normalize not in ("minmax", "clip"):
        raise FacejaxError(
            f"config.sample.normalize={c.sample.normalize!r}: expected 'minmax' (the original's "
            f"make_grid(normalize=True, scale_each=True)) or 'clip'"
        )
    alphas(c)
    resnet_layers(c)


def alphas(config) -> list[float]:
    """The makeup levels of config.sample.alphas."""
    try:
        vals = [float(a) for a in str(config.sample.alphas).split(",") if a.strip()]
    except ValueError:
        vals = []
    if not vals or any(not 0.0 <= a <= 1.0 for a in vals):
        raise FacejaxError(
            f"config.sample.alphas={config.sample.alphas!r}: expected comma-separated makeup levels "
            f"in [0, 1] (0 = the reference's makeup, 1 = none)"
        )
    return vals


def resnet_layers(config) -> tuple[int, ...]:
    """The identity ResNet's Bottleneck counts per stage (config.identity.layers)."""
    try:
        layers = tuple(int(v) for v in str(config.identity.layers).split(","))
    except ValueError:
        layers = ()
    if not layers or min(layers) < 1:
        raise FacejaxError(
            f"config.identity.layers={config.identity.layers!r}: expected Bottleneck counts per stage "
            f"such as '3,4,6,3' (ResNet-50)"
        )
    return layers

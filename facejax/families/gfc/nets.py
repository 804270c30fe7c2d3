"""The networks of both GFC families from their config fields: constructor arguments, shape-only modules and the
parameter stream of a fresh state. Shared by the completion family (family.py), the parsing family
(parsing_family.py) and the PyTorch layout (torch_layout.py); imports none of them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families.gfc import model


def g_widths(config) -> tuple[int, ...]:
    try:
        w = tuple(int(v) for v in str(config.model.g.widths).split(","))
    except ValueError:
        w = ()
    if len(w) != 4 or min(w) < 1:
        raise FacejaxError(
            f"config.model.g.widths={config.model.g.widths!r}: expected four encoder widths, e.g. '32,64,128,256'"
        )
    return w


def parsing_widths(config) -> tuple[int, ...]:
    try:
        w = tuple(int(v) for v in str(config.model.parsing.widths).split(","))
    except ValueError:
        w = ()
    if len(w) != 5 or min(w) < 1:
        raise FacejaxError(
            f"config.model.parsing.widths={config.model.parsing.widths!r}: expected five widths of the "
            f"VGG-19 blocks, e.g. '64,128,256,512,512'"
        )
    return w


def validate_parsing(config) -> None:
    """The parsing network's own fields (both families build it)."""
    p = config.model.parsing
    parsing_widths(config)
    if config.img_size < 32 or config.img_size % 32:
        raise FacejaxError(f"config.img_size={config.img_size}: expected a multiple of 32 (five 2x2 pools)")
    if p.last_width < 1 or p.num_classes < 2:
        raise FacejaxError("config.model.parsing.last_width must be >= 1 and num_classes >= 2")
    if not 0.0 <= p.dropout < 1.0:
        raise FacejaxError(f"config.model.parsing.dropout={p.dropout}: expected a value in [0, 1)")


def parsing_args(config) -> tuple:
    """model.Parsing's constructor arguments from the config."""
    p = config.model.parsing
    return parsing_widths(config), p.last_width, p.num_classes, p.dropout


def net_args(config) -> dict:
    """name -> (module class, constructor arguments) of the completion family's four nets."""
    c, g, d = config, config.model.g, config.model.d
    return {
        "G": (model.Generator, (c.img_size, g_widths(c), g.dec_width, g.fc_dim)),
        "D_local": (model.Discriminator, (c.mask.size, d.local_base, d.max_width, model.LOCAL_D_FIRST)),
        "D_global": (model.Discriminator, (c.img_size, d.global_base, d.max_width, model.GLOBAL_D_FIRST)),
        "P": (model.Parsing, parsing_args(c)),
    }


_ABSTRACT: dict = {}


def abstract_net(cls, args: tuple, dtype=jnp.float32):
    """The module cls(*args) with shapes only, made once per (cls, args, dtype) in a process: tracing the ~100
    initialisers of GFC's nets costs about 0.2 s each time, and a command or a test makes families and torch
    layouts of the same nets several times. Callers only read it (nnx.split, the torch layout)."""
    key = (cls, args, jnp.dtype(dtype).name)
    if key not in _ABSTRACT:
        _ABSTRACT[key] = nnx.eval_shape(lambda: cls(*args, dtype=dtype, rngs=nnx.Rngs(0)))
    return _ABSTRACT[key]


def init_rngs(root_key_data) -> nnx.Rngs:
    """The parameter stream of a fresh state: XLA's RngBitGenerator ("rbg") keyed from the run's root key. The
    threefry default compiles the ~100 initialisers of GFC's nets 3-5x slower on CPU; the draws are as random."""
    data = jax.random.key_data(jax.random.fold_in(jax.random.wrap_key_data(root_key_data), 0))
    return nnx.Rngs(params=jax.random.wrap_key_data(jnp.concatenate([data, data]), impl="rbg"))

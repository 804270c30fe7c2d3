"""Which implementation runs for facejax's CPU-tuned kernels: ``config.kernels``.

Several kernels were chosen by timing XLA:CPU, where they beat XLA's own convolutions; each also has an
XLA-native path (straightforward ``lax`` convolutions / pooling) computing the same function, which is what
GPU and TPU compilers (cuDNN, the TPU convolution emitter) are tuned for:

==============================  ===========================================  ====================================
kernel                          cpu_tuned                                    native
==============================  ===========================================  ====================================
``conv_transpose``              polyphase: stride^2 ordinary convolutions    one input-dilated convolution
                                interleaved                                  (``lax.conv_transpose``'s form)
``conv4x4_s2``                  custom VJP: every derivative order built     the plain strided convolution,
                                from the three first-order convolutions      differentiated by autodiff
``conv3x3_avg_pool2``           one 4x4 stride-2 convolution (kernel folded  3x3 convolution, then 2x2 mean pool
                                with the 2x2 box)
``upsample2_conv3x3``           four 2x2 convolutions at input resolution,   nearest x2 upsampling, then the 3x3
                                interleaved                                  convolution
SSIM's Gaussian filter          two matrix products with banded matrices     two depthwise 1-D convolutions
==============================  ===========================================  ====================================

``config.kernels``: ``"auto"`` (default: cpu_tuned when ``jax.default_backend() == "cpu"``, native elsewhere),
``"native"`` or ``"cpu_tuned"``. ``registry.create(config)`` applies it (``configure``), so every command, the
trainer and bench use the config's choice; presets need not declare the field. Tests and notebooks can switch
with ``with kernels.use("native"): ...``.

The choice is read when a kernel is traced. It is held as a JAX config option that is part of jit's cache key
and trace context (as ``jax_default_matmul_precision`` is), so a function jitted under one choice is traced
again, not reused, under the other. That uses JAX's internal ``jax._src.config.enum_state``; should a JAX
version lack it, a module-level variable holds the choice instead, and a function already jitted keeps the
choice it was first traced with.
"""

from __future__ import annotations

import contextlib

import jax

from facejax.errors import FacejaxError

CHOICES = ("auto", "native", "cpu_tuned")
DEFAULT = "auto"

try:  # a JAX config option: in jit's cache key and trace context (see the module docstring)
    from jax._src import config as _jax_config

    _STATE = _jax_config.enum_state(
        "facejax_kernels",
        list(CHOICES),
        DEFAULT,
        help="facejax: kernel implementations (facejax/nn/kernels.py)",
        include_in_jit_key=True,
        include_in_trace_context=True,
    )
except Exception:  # noqa: BLE001 - any incompatibility of the internal API: the plain fallback
    _STATE = None
_setting = DEFAULT  # the fallback's holder


def validate(value) -> str:
    """The setting itself, or one clear error naming config.kernels and the allowed values."""
    if not isinstance(value, str) or value not in CHOICES:
        raise FacejaxError(
            f"config.kernels={value!r}: expected one of {', '.join(repr(c) for c in CHOICES)} "
            "(auto: cpu_tuned on a CPU backend, native on GPU/TPU)"
        )
    return value


def setting() -> str:
    """The current setting: 'auto', 'native' or 'cpu_tuned'."""
    return _setting if _STATE is None else _STATE.value


def set_kernels(value: str) -> None:
    """Sets the process-wide choice; ``configure(config)`` calls it, ``use(...)`` sets it for a block."""
    global _setting
    value = validate(value)
    if _STATE is None:
        _setting = value
    else:
        jax.config.update("facejax_kernels", value)


def configure(config) -> str:
    """Applies ``config.kernels`` (absent: 'auto'); returns the setting."""
    get = getattr(config, "get", None)
    value = get("kernels", DEFAULT) if get is not None else getattr(config, "kernels", DEFAULT)
    set_kernels(value)
    return value


@contextlib.contextmanager
def use(value: str):
    """``with kernels.use("native"):`` traces the kernels inside with that choice, then restores the previous."""
    global _setting
    value = validate(value)
    if _STATE is not None:
        with _STATE(value):  # this thread only
            yield
        return
    previous, _setting = _setting, value
    try:
        yield
    finally:
        _setting = previous


def resolve(value: str | None = None, backend: str | None = None) -> str:
    """'native' or 'cpu_tuned' for a setting (default: the current one) on a backend (default: JAX's)."""
    value = validate(setting() if value is None else value)
    if value != "auto":
        return value
    backend = jax.default_backend() if backend is None else backend
    return "cpu_tuned" if backend == "cpu" else "native"


def cpu_tuned() -> bool:
    """Whether the kernels traced now take their CPU-tuned path."""
    return resolve() == "cpu_tuned"

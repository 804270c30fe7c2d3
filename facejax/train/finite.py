"""The non-finite guard: a diverged state (NaN/inf losses or parameters) is never saved.

The jitted step returns, beside its losses, one boolean computed on the device: whether every loss and
every updated parameter is finite (`with_finite_flag`). The loop keeps the flags of the steps since the
last check (device arrays, no host sync) and reads them at log steps and before every save
(`FiniteWatch.check`). A non-finite step raises `NonFinite`; the trainer then returns to the last good
checkpoint (nothing after it was saved) and, by `config.nonfinite`:

  stop         (default) stops with one line naming the step and the losses, exit status 2
  skip_batch   skips the batch the first bad step read and continues, at most config.nonfinite_retries times
  lower_lr     multiplies every learning rate (config fields `lr`, `*_lr`, `lr_overrides`) by
               config.nonfinite_lr_factor and continues, at most config.nonfinite_retries times
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from facejax.errors import FacejaxError

FINITE = "finite"  # the metrics key of the flag (the trainer removes it before logging)
POLICIES = ("stop", "skip_batch", "lower_lr")


def all_finite(*trees) -> jax.Array:
    """A scalar bool: every floating-point leaf of `trees` is finite (a reduction on the device)."""
    flags = [
        jnp.all(jnp.isfinite(x))
        for t in trees
        for x in jax.tree.leaves(t)
        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(flags)) if flags else jnp.array(True)


def with_finite_flag(step_fn):
    """`step_fn(state, batch, ...) -> (state, metrics)` with metrics[FINITE] = all_finite(metrics, new params)."""

    def checked(state, batch, *args, **kwargs):
        new, metrics = step_fn(state, batch, *args, **kwargs)
        return new, {**metrics, FINITE: all_finite(metrics, new.params)}

    return checked


class NonFinite(Exception):
    """Raised by FiniteWatch.check: the first step whose losses or parameters were not finite."""

    def __init__(self, step: int, example: int, losses: list):
        self.step, self.example, self.losses = step, example, losses
        what = f"losses {', '.join(losses)}" if losses else "parameters"
        super().__init__(f"step {step}: non-finite {what}")


class FiniteWatch:
    """The finite flags of the steps since the last check; read only when `check` is called."""

    def __init__(self):
        self._pending = []  # (step, first example of its batch, flag, metrics)

    def add(self, step: int, example: int, metrics: dict) -> dict:
        """Records the step's flag; returns its metrics without it."""
        metrics = dict(metrics)
        self._pending.append((step, example, metrics.pop(FINITE), metrics))
        return metrics

    def check(self) -> None:
        """Raises NonFinite for the first unchecked step that was not finite."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        flags = jax.device_get([p[2] for p in pending])
        for (step, example, _, metrics), ok in zip(pending, flags):
            if not ok:
                values = jax.device_get(metrics)
                losses = sorted(k for k, v in values.items() if not np.all(np.isfinite(v)))
                raise NonFinite(step, example, losses)


def check_policy(config) -> tuple[str, int, float]:
    """(policy, retries, lr factor) from the config, refused with one line when out of range."""
    policy = config.get("nonfinite", "stop")
    retries = config.get("nonfinite_retries", 3)
    factor = config.get("nonfinite_lr_factor", 0.1)
    if policy not in POLICIES:
        raise FacejaxError(f"config.nonfinite={policy!r}; expected one of {', '.join(POLICIES)}")
    if not isinstance(retries, int) or retries < 0:
        raise FacejaxError(f"config.nonfinite_retries={retries!r}; expected an integer >= 0")
    if not 0 < factor < 1:
        raise FacejaxError(f"config.nonfinite_lr_factor={factor!r}; expected a factor in (0, 1)")
    return policy, retries, factor


def is_lr_field(name: str) -> bool:
    return name == "lr" or name.endswith("_lr")


def lowered_lr(config, factor: float):
    """(a copy of `config` with every top-level learning rate times `factor`, the names changed)."""
    new = ml_collections.ConfigDict(config.to_dict())
    changed = []
    for name, value in config.items():
        if is_lr_field(name) and isinstance(value, (int, float)) and not isinstance(value, bool):
            new[name] = float(value) * factor
            changed.append(f"{name}={new[name]:.3g}")
        elif name == "lr_overrides" and hasattr(value, "items"):
            for k, v in value.items():
                new[name][k] = float(v) * factor
            changed.append(f"{name}×{factor:g}")
    return new, changed

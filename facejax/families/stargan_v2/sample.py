"""StarGAN v2 pictures: latent- and reference-guided grids, and folder-to-folder translation."""

import os

import jax
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.input.sources import list_domain_folder, read_image


def _fns(family):
    """Jitted translators, compiled once per family object and batch shape."""
    if not hasattr(family, "_sample_fns"):
        family._sample_fns = (
            jax.jit(lambda ema, x, z, y: family.translate(ema, x, ("latent", z), y)),
            jax.jit(lambda ema, x, r, y: family.translate(ema, x, ("reference", r), y)),
        )
    return family._sample_fns


def latent_grid(family, ema, x, z) -> np.ndarray:
    """Rows: sources; columns: the source, then one output per target domain (fixed z per row)."""
    latent, _ = _fns(family)
    n, k = x.shape[0], family.config.model.num_domains
    cols = [x] + [np.asarray(latent(ema, x, z, np.full((n,), d, np.int32))) for d in range(k)]
    tiles = np.stack(cols, axis=1).reshape((n * (k + 1),) + x.shape[1:])
    return images.make_grid(images.to_uint8(tiles), ncol=k + 1)


def reference_outputs(family, ema, x, refs, ref_labels) -> np.ndarray:
    """(len(refs), len(x), H, W, 3): every source translated with every reference's style."""
    _, reference = _fns(family)
    n = x.shape[0]
    outs = []
    for r, y in zip(refs, ref_labels):
        outs.append(np.asarray(reference(ema, x, np.repeat(r[None], n, 0), np.full((n,), y, np.int32))))
    return np.stack(outs)


def reference_grid(x, refs, outs) -> np.ndarray:
    """The original's layout: top row blank + references; then each source and its outputs."""
    n, m = x.shape[0], refs.shape[0]
    blank = np.ones_like(x[:1])
    rows = [np.concatenate([blank, refs])]
    for i in range(n):
        rows.append(np.concatenate([x[i:i + 1], outs[:, i]]))
    tiles = np.concatenate(rows)
    return images.make_grid(images.to_uint8(tiles), ncol=m + 1)


def grids(family, ema, inputs) -> dict:
    x, y, z = inputs["x"], inputs["y"], inputs["z"]
    outs = reference_outputs(family, ema, x, x, y)
    return {"latent": latent_grid(family, ema, x, z), "reference": reference_grid(x, x, outs)}


def translate_folders(family, ema, src_dir: str, ref_dir: str, out_dir: str, chunk: int = 8) -> dict:
    """Translates every source image with every reference image.

    Writes `<out>/<src stem>__<ref stem>.png` at img_size for each pair and `<out>/reference.png`,
    the grid of all pairs. Domains are the sorted sub-folder names of --ref (class indices).
    """
    size, k = family.config.img_size, family.config.model.num_domains
    src_paths, _, _ = list_domain_folder(src_dir, what="--src folder")
    ref_paths, ref_labels, ref_domains = list_domain_folder(ref_dir, what="--ref folder")
    if len(ref_domains) != k:
        raise FacejaxError(f"--ref folder {ref_dir!r} has {len(ref_domains)} domain sub-folders "
                           f"({', '.join(ref_domains)}); the model has {k} domains "
                           f"(config.model.num_domains), in sorted folder-name order")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in src_paths]
    rstems = [os.path.splitext(os.path.basename(p))[0] for p in ref_paths]
    for what, names, paths in (("--src", stems, src_paths), ("--ref", rstems, ref_paths)):
        seen = {}
        for nm, p in zip(names, paths):
            if nm in seen:
                raise FacejaxError(f"{what} has two images named {nm!r} ({seen[nm]}, {p}); output "
                                   f"files are named <src stem>__<ref stem>.png, so stems must be unique")
            seen[nm] = p
    x = np.stack([read_image(p, size) for p in src_paths])
    refs = np.stack([read_image(p, size) for p in ref_paths])
    # Fixed-size chunks (padded) so the translator compiles once whatever the folder sizes.
    pad = (-len(x)) % chunk
    xp = np.concatenate([x, np.repeat(x[-1:], pad, 0)]) if pad else x
    outs = np.concatenate([reference_outputs(family, ema, xp[i:i + chunk], refs, ref_labels)
                           for i in range(0, len(xp), chunk)], axis=1)[:, :len(x)]
    os.makedirs(out_dir, exist_ok=True)
    u8 = images.to_uint8(outs)
    for j, rs in enumerate(rstems):
        for i, ss in enumerate(stems):
            images.save_png(os.path.join(out_dir, f"{ss}__{rs}.png"), u8[j, i])
    grid = images.save_png(os.path.join(out_dir, "reference.png"), reference_grid(x, refs, outs))
    return {"pairs": len(stems) * len(rstems), "grid": grid}

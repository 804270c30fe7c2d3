"""StarGAN v2 pictures: latent- and reference-guided grids, and folder-to-folder translation.

A `Sampler` (one per family object, `family.sampler`) owns the jitted translators; they compile once per
batch shape. Its methods take the sampling weights, {net name: params} of the EMA nets and the frozen FAN
(`sampling_weights(state)`).
"""

import os

import jax
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.stargan_v2 import preprocess
from facejax.input.sources import list_domain_folder


def sampling_weights(state) -> dict:
    """The weights StarGAN v2 samples from: the EMA nets (G, F, E where a row has them) and the frozen FAN."""
    return {**state.frozen, **state.ema}


class Sampler:
    """Jitted translators of one family object: translate(weights, x, guide, y) -> images.

    Args:
      translate: the family's translate(weights, x_src, guide, y_trg) (pure, traced here).
      config: the family's config (img_size, model.num_domains).
    """

    def __init__(self, translate, config):
        self.config = config
        self.latent = jax.jit(lambda w, x, z, y: translate(w, x, ("latent", z), y))
        self.reference = jax.jit(lambda w, x, r, y: translate(w, x, ("reference", r), y))

    def latent_grid(self, weights, x, z) -> np.ndarray:
        """Rows: sources; columns: the source, then one output per target domain (fixed z per row)."""
        n, k = x.shape[0], self.config.model.num_domains
        cols = [x] + [np.asarray(self.latent(weights, x, z, np.full((n,), d, np.int32))) for d in range(k)]
        tiles = np.stack(cols, axis=1).reshape((n * (k + 1),) + x.shape[1:])
        return images.make_grid(images.to_uint8(tiles), ncol=k + 1)

    def reference_outputs(self, weights, x, refs, ref_labels) -> np.ndarray:
        """(len(refs), len(x), H, W, 3): every source translated with every reference's style."""
        n = x.shape[0]
        outs = []
        for r, y in zip(refs, ref_labels):
            outs.append(np.asarray(self.reference(weights, x, np.repeat(r[None], n, 0), np.full((n,), y, np.int32))))
        return np.stack(outs)

    def grids(self, weights, inputs) -> dict:
        x, y, z = inputs["x"], inputs["y"], inputs["z"]
        outs = self.reference_outputs(weights, x, x, y)
        return {"latent": self.latent_grid(weights, x, z), "reference": reference_grid(x, x, outs)}

    def pair_outputs(self, state, x, refs, ref_labels, chunk: int = 8) -> np.ndarray:
        """(len(refs), len(x), H, W, 3) floats: every source with every reference's style and domain, sources in
        fixed-size chunks (padded) so that the translator compiles once whatever the number of images."""
        weights = sampling_weights(state)
        pad = (-len(x)) % chunk
        xp = np.concatenate([x, np.repeat(x[-1:], pad, 0)]) if pad else x
        return np.concatenate(
            [self.reference_outputs(weights, xp[i : i + chunk], refs, ref_labels) for i in range(0, len(xp), chunk)],
            axis=1,
        )[:, : len(x)]

    def translate_arrays(self, state, src, ref, ref_domains) -> np.ndarray:
        """uint8 (len(src), len(ref), S, S, 3): src[i] with ref[j]'s style in domain ref_domains[j] (Model.translate);
        the images are read as translate_folders reads files."""
        k = self.config.model.num_domains
        recipe = preprocess.recipe(self.config)
        if ref is None or ref_domains is None:
            raise FacejaxError(
                "StarGAN v2 translates sources with the styles of references: give ref= (images) and "
                f"ref_domains= (each reference's domain, 0..{k - 1}, an int or one per reference)"
            )
        labels = np.asarray(ref_domains)
        if labels.ndim == 0:
            labels = np.full((len(ref),), labels)
        if labels.shape != (len(ref),) or not np.issubdtype(labels.dtype, np.integer):
            raise FacejaxError(
                f"ref_domains={np.asarray(ref_domains).tolist()}: expected one int for every reference or a list of "
                f"{len(ref)} ints (0..{k - 1})"
            )
        labels = labels.astype(np.int32)
        if labels.min() < 0 or labels.max() >= k:
            raise FacejaxError(f"ref_domains={labels.tolist()}: the model has {k} domains (0..{k - 1})")
        x = np.stack([images.prepare(a, recipe) for a in src])
        refs = np.stack([images.prepare(a, recipe) for a in ref])
        return images.to_uint8(self.pair_outputs(state, x, refs, labels)).transpose(1, 0, 2, 3, 4)

    def translate_folders(self, state, src_dir: str, ref_dir: str, out_dir: str, chunk: int = 8) -> dict:
        """Translates every source image with every reference image (`facejax sample --src --ref`).

        Writes `<out>/<src stem>__<ref stem>.png` at img_size for each pair and `<out>/reference.png`,
        the grid of all pairs. Domains are the sorted sub-folder names of --ref (class indices). The folders
        are checked before `state` is read.

        Returns:
          {"grid": path of reference.png, "count": number of pairs written, "pairs": the same number}.
        """
        k = self.config.model.num_domains
        recipe = preprocess.recipe(self.config)
        src_paths, _, _ = list_domain_folder(src_dir, what="--src folder")
        ref_paths, ref_labels, ref_domains = list_domain_folder(ref_dir, what="--ref folder")
        if len(ref_domains) != k:
            raise FacejaxError(
                f"--ref folder {ref_dir!r} has {len(ref_domains)} domain sub-folders "
                f"({', '.join(ref_domains)}); the model has {k} domains "
                f"(config.model.num_domains), in sorted folder-name order"
            )
        stems = [os.path.splitext(os.path.basename(p))[0] for p in src_paths]
        rstems = [os.path.splitext(os.path.basename(p))[0] for p in ref_paths]
        for what, names, paths in (("--src", stems, src_paths), ("--ref", rstems, ref_paths)):
            seen = {}
            for nm, p in zip(names, paths):
                if nm in seen:
                    raise FacejaxError(
                        f"{what} has two images named {nm!r} ({seen[nm]}, {p}); output "
                        f"files are named <src stem>__<ref stem>.png, so stems must be unique"
                    )
                seen[nm] = p
        x = np.stack([images.read(p, recipe) for p in src_paths])
        refs = np.stack([images.read(p, recipe) for p in ref_paths])
        outs = self.pair_outputs(state, x, refs, ref_labels, chunk)
        os.makedirs(out_dir, exist_ok=True)
        u8 = images.to_uint8(outs)
        for j, rs in enumerate(rstems):
            for i, ss in enumerate(stems):
                images.save_png(os.path.join(out_dir, f"{ss}__{rs}.png"), u8[j, i])
        grid = images.save_png(os.path.join(out_dir, "reference.png"), reference_grid(x, refs, outs))
        pairs = len(stems) * len(rstems)
        return {"grid": grid, "count": pairs, "pairs": pairs}


def reference_grid(x, refs, outs) -> np.ndarray:
    """The original's layout: top row blank + references; then each source and its outputs."""
    n, m = x.shape[0], refs.shape[0]
    blank = np.ones_like(x[:1])
    rows = [np.concatenate([blank, refs])]
    for i in range(n):
        rows.append(np.concatenate([x[i : i + 1], outs[:, i]]))
    tiles = np.concatenate(rows)
    return images.make_grid(images.to_uint8(tiles), ncol=m + 1)

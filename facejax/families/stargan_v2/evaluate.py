"""StarGAN v2's evaluation protocol (clovaai/stargan-v2 metrics/eval.py), sharded over all devices.

For each mode (latent-guided, reference-guided) and each task src->trg (every target domain, every
other source domain):
  * sources: the eval split's images of the source domain (all of them, or config.eval.max_sources),
    PIL-resized to img_size and scaled to [-1, 1] (the original's val loader);
  * config.eval.num_outs_per_domain (10) outputs per source: latent mode s = F(z, trg) with
    z ~ N(0, I) (no truncation); reference mode s = E(x_ref, trg) with a new batch of the target
    domain's eval images for each output (a shuffled stream that reshuffles when exhausted);
  * LPIPS: per source, the mean LPIPS over the 45 pairs of its 10 raw (unclamped) outputs; the task's
    value is the mean over sources (the original averages per-batch means of 32 shuffled sources,
    which weighs a smaller last batch like a full one);
  * FID: the generated images, quantised as the original's PNGs, against all train-split images of
    the target domain. Both sides go through the original's eval loader: PIL Resize(img_size) ->
    Resize(299), then torchvision's ImageNet Inception v3 with ImageNet mean/std
    (config.eval.inception="imagenet", the paper's numbers). config.eval.inception="fid" uses
    pytorch-fid's TF-FID Inception instead (images at img_size, its own bilinear resize to 299):
    the standard FID that new work should report.
Means over tasks give `FID_<mode>/mean` and `LPIPS_<mode>/mean`; keys match the original's JSON.

Every step runs sharded over the mesh's `data` axis: generation, LPIPS and Inception are jitted with
NamedShardings; each process prepares the rows of the global batch its devices hold; features are
gathered to every host and folded into float64 statistics there (facejax.metrics.fid). Real-image
statistics are computed once per Evaluator and reused by later evaluations of the same run.
"""

from __future__ import annotations

import io
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from PIL import Image

from facejax import images as images_lib
from facejax.errors import FacejaxError
from facejax.families.stargan_v2.sample import sampling_weights
from facejax.input import sources
from facejax.metrics import fid, inception, lpips, preprocess
from facejax.metrics import report as eval_report
from facejax.train import mesh as mesh_lib

MODES = ("latent", "reference")


def validate(config) -> None:
    e = config.eval
    if e.fid_method not in fid.METHODS:
        raise FacejaxError(f"config.eval.fid_method={e.fid_method!r}: expected one of {', '.join(fid.METHODS)}")
    if e.inception not in inception.VARIANTS:
        raise FacejaxError(
            f"config.eval.inception={e.inception!r}: expected 'imagenet' (StarGAN v2's own "
            f"protocol, the paper's numbers) or 'fid' (pytorch-fid's TF-FID Inception)"
        )
    for name, low in (
        ("num_outs_per_domain", 2),
        ("batch_size", 1),
        ("max_sources", 0),
        ("max_real", 0),
        ("grid_sources", 0),
    ):
        if e[name] < low:
            raise FacejaxError(f"config.eval.{name}={e[name]}: expected >= {low}")
    if config.model.num_domains < 2:
        raise FacejaxError("the StarGAN v2 protocol translates between domains: config.model.num_domains >= 2")


def _decode(item, from_files: bool) -> np.ndarray:
    if from_files:
        return preprocess.load_uint8(item.decode() if isinstance(item, bytes) else str(item))
    try:
        with Image.open(io.BytesIO(item)) as im:
            return np.asarray(im.convert("RGB"), np.uint8)
    except Exception as e:
        raise FacejaxError(f"an image of the dataset could not be decoded ({type(e).__name__}: {e})") from None


def _local_rows(x: jax.Array, mesh, spec) -> np.ndarray:
    """This process's part of a global array (numpy)."""
    if jax.process_count() == 1:
        return np.asarray(jax.device_get(x))
    return np.asarray(multihost_utils.global_array_to_host_local_array(x, mesh, spec))


class Evaluator:
    """Loads the metric networks once (a missing weight file is an error now, not at the first eval)
    and evaluates a train state's EMA nets (with the frozen FAN): `evaluator(state, step, out_dir)` ->
    {"metrics", "report", "files", "table"}."""

    def __init__(self, family, mesh=None):
        self.family, self.config = family, family.config
        validate(self.config)
        e = self.config.eval
        self.variant = e.inception
        self.k = int(e.num_outs_per_domain)
        self.mesh = mesh if mesh is not None else mesh_lib.make_mesh()
        self.batch = fid.padded_batch_size(e.batch_size, self.mesh)  # global rows per step
        self.local = self.batch // jax.process_count()
        inc_params = inception.load_params(e.inception_weights, self.variant, "config.eval.inception_weights")
        self.inception_file = os.path.basename(e.inception_weights)
        self.lpips_params = lpips.load_params(
            e.alexnet_weights,
            e.lpips_lin_weights,
            alexnet_field="config.eval.alexnet_weights",
            lin_field="config.eval.lpips_lin_weights",
        )
        variant = self.variant
        self.extractor = fid.Extractor(lambda p, x: inception.features(p, x, variant), inc_params, self.mesh)
        rep, data = mesh_lib.replicated(self.mesh), mesh_lib.batch_sharding(self.mesh)
        # (K outputs, batch, ...) arrays: the batch dimension split like every batch
        self._stack_spec = P(None, *data.spec)
        stack = NamedSharding(self.mesh, self._stack_spec)
        self.lpips_params = jax.device_put(self.lpips_params, rep)
        self._lpips = jax.jit(lpips.pairwise_mean, in_shardings=(rep, stack), out_shardings=data)
        k = self.k

        def latent(weights, x, y, key):
            z = [
                jax.random.normal(jax.random.fold_in(key, j), (x.shape[0], self.config.model.latent_dim))
                for j in range(k)
            ]
            return jnp.stack([family.translate(weights, x, ("latent", zj), y) for zj in z])

        def reference(weights, x, y, refs):
            return jnp.stack([family.translate(weights, x, ("reference", refs[j]), y) for j in range(k)])

        self._gen = {
            "latent": jax.jit(latent, in_shardings=(rep, data, data, rep), out_shardings=stack),
            "reference": jax.jit(reference, in_shardings=(rep, data, data, stack), out_shardings=stack),
        }
        self._rep, self._data, self._stack = rep, data, stack
        self._eval_images = None
        self._domains = None
        self._real_stats = {}

    # ------------------------------------------------------------------------- data

    def _load_eval_split(self):
        """uint8 images of the eval split at img_size, per domain (every process holds all of them)."""
        if self._eval_images is None:
            c = self.config
            src = sources.load_source(c.data, "eval")
            if len(src.domains) != c.model.num_domains:
                raise FacejaxError(
                    f"the eval data has {len(src.domains)} domains ({', '.join(src.domains)}) "
                    f"but config.model.num_domains={c.model.num_domains}"
                )
            cap = c.eval.max_sources or None
            per = [[] for _ in src.domains]
            for ex in src.dataset.as_numpy_iterator():
                d = int(ex["label"])
                if cap is None or len(per[d]) < cap:
                    per[d].append(preprocess.pil_resize(_decode(ex["image"], src.from_files), c.img_size))
                if cap is not None and all(len(p) >= cap for p in per):
                    break
            for d, p in enumerate(per):
                if not p:
                    raise FacejaxError(f"the eval split has no images of domain {src.domains[d]!r}")
            self._eval_images = [np.stack(p) for p in per]
            self._domains = list(src.domains)
        return self._eval_images, self._domains

    def _inception_rows(self, imgs_uint8: np.ndarray) -> np.ndarray:
        size = self.config.img_size
        return np.stack([preprocess.inception_image(im, self.variant, pre_size=size) for im in imgs_uint8])

    def _pad_shape(self):
        s = 299 if self.variant == "imagenet" else self.config.img_size
        return (s, s, 3)

    def real_stats(self, domain: int) -> fid.RunningStats:
        """Statistics of the target domain's train-split images (each process reads its own part)."""
        if domain in self._real_stats:
            return self._real_stats[domain]
        c = self.config
        src = sources.load_source(c.data, "train", jax.process_index(), jax.process_count())
        ds = src.dataset.filter(lambda ex: ex["label"] == domain)
        if c.eval.max_real:
            ds = ds.take(int(math.ceil(c.eval.max_real / jax.process_count())))
        it = ds.as_numpy_iterator()
        stats = fid.RunningStats(inception.FEATURE_DIM)
        pad = np.zeros((self.local,) + self._pad_shape(), np.float32)
        while True:
            imgs = []
            for ex in it:
                imgs.append(_decode(ex["image"], src.from_files))
                if len(imgs) == self.local:
                    break
            n_local = len(imgs)
            counts = (
                np.asarray(multihost_utils.process_allgather(np.asarray([n_local], np.int32), tiled=True))
                if jax.process_count() > 1
                else np.asarray([n_local])
            )
            if counts.sum() == 0:
                break
            batch = pad.copy()
            if n_local:
                batch[:n_local] = self._inception_rows(np.stack(imgs))
            mask = np.zeros((self.local,), bool)
            mask[:n_local] = True
            rows = self.extractor(batch)
            full_mask = (
                np.asarray(multihost_utils.process_allgather(mask, tiled=True)) if jax.process_count() > 1 else mask
            )
            stats.update(rows[full_mask])
        if stats.n < 2:
            raise FacejaxError(f"domain {domain} has {stats.n} train images; FID needs at least 2")
        self._real_stats[domain] = stats
        return stats

    # ------------------------------------------------------------------------- protocol

    def _task(self, weights, mode, m_idx, src, trg, t_idx, images, out_dir):
        c = self.config
        pi, local = jax.process_index(), self.local
        xs = images[src]
        n_src = len(xs)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(c.seed), 1_000_003 + m_idx), t_idx)
        ref_rng = np.random.default_rng([c.seed, m_idx, t_idx])
        ref_pool = images[trg]
        ref_order = []
        fake = fid.RunningStats(inception.FEATURE_DIM)
        lp_sum, lp_n = 0.0, 0
        grid = None
        task = f"{self._domains[src]}2{self._domains[trg]}"
        for b, (idx, valid) in enumerate(fid.process_slices(n_src, self.batch)):
            x_local = preprocess.to_signed(np.stack([xs[i if i >= 0 else 0] for i in idx]))
            x = jax.make_array_from_process_local_data(self._data, x_local)
            y = jax.make_array_from_process_local_data(self._data, np.full((local,), trg, np.int32))
            if mode == "latent":
                outs = self._gen["latent"](weights, x, y, jax.random.fold_in(key, b))
            else:
                refs = np.empty((self.k, local) + x_local.shape[1:], np.float32)
                for j in range(self.k):
                    while len(ref_order) < self.batch:  # a shuffled stream; drop_last, then reshuffle
                        ref_order += list(ref_rng.permutation(len(ref_pool)))
                    take, ref_order = ref_order[: self.batch], ref_order[self.batch :]
                    refs[j] = preprocess.to_signed(ref_pool[take[pi * local : (pi + 1) * local]])
                outs = self._gen["reference"](weights, x, y, jax.make_array_from_process_local_data(self._stack, refs))
            lp = fid.gather(self._lpips(self.lpips_params, outs))[:valid]
            lp_sum, lp_n = lp_sum + float(np.sum(lp, dtype=np.float64)), lp_n + len(lp)
            outs_local = images_lib.to_uint8(_local_rows(outs, self.mesh, self._stack_spec))  # (K, local, H, W, 3)
            for j in range(self.k):
                fake.update(self.extractor(self._inception_rows(outs_local[j]))[:valid])
            n_mine = sum(1 for i in idx if i >= 0)
            if c.eval.save_images:
                for r in range(n_mine):
                    for j in range(self.k):
                        images_lib.save_png(
                            os.path.join(out_dir, mode, task, f"{idx[r]:05d}_{j:02d}.png"), outs_local[j, r]
                        )
            if b == 0 and pi == 0 and c.eval.grid_sources:
                rows = min(c.eval.grid_sources, n_mine)
                tiles = np.concatenate([xs[idx[:rows]][:, None], np.moveaxis(outs_local[:, :rows], 0, 1)], axis=1)
                grid = images_lib.make_grid(tiles.reshape((-1,) + tiles.shape[2:]), ncol=self.k + 1)
        fid_value = fid.fid_from_stats(self.real_stats(trg), fake, c.eval.fid_method)
        grid_path = None
        if grid is not None:
            grid_path = images_lib.save_png(os.path.join(out_dir, f"{mode}_{task}.png"), grid)
        return task, fid_value, lp_sum / max(lp_n, 1), fake.n, grid_path

    def __call__(self, state, step: int, out_dir) -> dict:
        """The protocol on `state` (a TrainState: its EMA nets and frozen FAN) at `step`, written to out_dir."""
        c = self.config
        out_dir = str(out_dir)
        images, domains = self._load_eval_split()
        weights = jax.device_put(sampling_weights(state), self._rep)
        metrics, counts, grids = {}, {}, []
        for m_idx, mode in enumerate(MODES):
            fids, lps = [], []
            t_idx = 0
            for trg in range(len(domains)):
                for src in range(len(domains)):
                    if src == trg:
                        continue
                    task, f, lp, n, grid = self._task(weights, mode, m_idx, src, trg, t_idx, images, out_dir)
                    t_idx += 1
                    metrics[f"FID_{mode}/{task}"] = f
                    metrics[f"LPIPS_{mode}/{task}"] = lp
                    counts[f"{mode}/{task}"] = {"fake": n, "real": self.real_stats(trg).n}
                    fids.append(f)
                    lps.append(lp)
                    if grid:
                        grids.append(grid)
            metrics[f"FID_{mode}/mean"] = float(np.mean(fids))
            metrics[f"LPIPS_{mode}/mean"] = float(np.mean(lps))
        report = {
            "step": int(step),
            "metrics": metrics,
            "inception": self.variant,
            "inception_weights": self.inception_file,
            "fid_protocol": (
                "StarGAN v2 (torchvision ImageNet Inception v3, PIL resize to img_size then 299, ImageNet mean/std)"
                if self.variant == "imagenet"
                else "pytorch-fid (TF-FID Inception v3, bilinear resize to 299 without antialias)"
            ),
            "fid_method": c.eval.fid_method,
            "lpips": "lpips 0.1.4 AlexNet v0.1, mean over pairs of outputs per source",
            "num_outs_per_domain": self.k,
            "counts": counts,
            "img_size": int(c.img_size),
        }
        files = {}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report, table(report)))
        files["grids"] = grids
        return {"metrics": metrics, "report": report, "files": files, "table": table(report)}


def table(report: dict) -> str:
    """A markdown table: one row per task and the mean; FID and LPIPS per mode."""
    m = report["metrics"]
    tasks = [k.split("/", 1)[1] for k in m if k.startswith("FID_latent/") and not k.endswith("/mean")]
    lines = [
        f"StarGAN v2 evaluation at step {report['step']}: FID with the {report['inception']!r} Inception "
        f"({report['inception_weights']}), {report['fid_protocol']}; LPIPS diversity over "
        f"{report['num_outs_per_domain']} outputs per source.",
        "",
        "| task | FID latent | LPIPS latent | FID reference | LPIPS reference |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in tasks + ["mean"]:
        lines.append(
            f"| {t} | {m[f'FID_latent/{t}']:.3f} | {m[f'LPIPS_latent/{t}']:.4f} | "
            f"{m[f'FID_reference/{t}']:.3f} | {m[f'LPIPS_reference/{t}']:.4f} |"
        )
    return "\n".join(lines)

"""Beholder-GAN's evaluation: the paper's table (PGGAN's SWD per level x 1e3 and MS-SSIM) plus FID.

Protocol (PGGAN util_scripts.evaluate_metrics, as the paper's table): generated faces from the EMA generator,
z ~ N(0, I) and beta = the scores of a face drawn at random from the data (the training set's random labels),
seeded by config.eval.seed; real faces of the eval split (repeated when the split is smaller), both as uint8 at
img_size. The counts are PGGAN's metric presets:

  SWD      "swd-16k": config.eval.swd_images (16,384) reals vs as many fakes, per Laplacian level from img_size
           down to 16 px, x 1e3, and their average
  MS-SSIM  "msssim-20k": config.eval.ms_ssim_images (20,000) fakes, consecutive pairs
  FID      pytorch-fid's Inception (config.eval.inception_weights) of config.eval.num_images fakes vs reals
           (config.eval.fid; not in the paper's table)

The reals are mirrored as evaluate_metrics does when the run trained with mirror_augment
(misc.apply_mirror_augment: each image flipped left-right with probability 1/2; config.eval.mirror_reals
follows config.data.mirror_augment; False never mirrors them). PGGAN's second pass of reals (a reals-vs-reals
baseline it prints) is not computed.

Generation is sharded over the mesh's data axis. Results: metrics.json, metrics.md (the paper's rows for
comparison) and a grid of fakes under <workdir>/eval/<step>/.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.beholder import data
from facejax.metrics import fid, inception, pggan, preprocess
from facejax.metrics import report as eval_report
from facejax.train import mesh as mesh_lib

PAPER = {"PGGAN": ([5.13, 2.02, 3.04, 4.06], 3.56, 0.284), "Beholder-GAN": ([8.72, 4.26, 6.23, 11.75], 7.74, 0.274)}


def validate(config) -> None:
    e = config.eval
    for name in ("num_images", "batch_size", "swd_images", "ms_ssim_images"):
        if e[name] < 1:
            raise FacejaxError(f"config.eval.{name}={e[name]}: expected >= 1")
    if e.ms_ssim and e.ms_ssim_images < 2:
        raise FacejaxError(f"config.eval.ms_ssim_images={e.ms_ssim_images}: expected >= 2 (pairs of fakes)")
    if e.swd and config.img_size < 16:
        raise FacejaxError(f"config.eval.swd: SWD needs img_size >= 16 (its coarsest level), got {config.img_size}")
    if e.fid and e.fid_method not in fid.METHODS:
        raise FacejaxError(f"config.eval.fid_method={e.fid_method!r}: expected one of {', '.join(fid.METHODS)}")


class Evaluator:
    def __init__(self, family, mesh=None, *, features=None):
        validate(family.config)
        self.family, self.config = family, family.config
        e = self.config.eval
        self.mesh = mesh if mesh is not None else mesh_lib.make_mesh()
        self.batch = fid.padded_batch_size(e.batch_size, self.mesh)
        self.extractor = None
        if e.fid:
            if features is None:
                params = inception.load_params(e.inception_weights, e.inception, "config.eval.inception_weights")
                variant = e.inception
                self.extractor = fid.Extractor(lambda p, x: inception.features(p, x, variant), params, self.mesh)
                self.feature_dim = inception.FEATURE_DIM
            else:
                self.extractor = fid.Extractor(lambda p, x: features(x), {}, self.mesh)
                s = self.config.img_size
                self.feature_dim = jax.eval_shape(features, jax.ShapeDtypeStruct((1, s, s, 3), np.float32)).shape[1]
        table = family.read_split("eval")
        self.n_reals = max(e.num_images if e.fid else 0, e.swd_images if e.swd else 0)
        self.n_fakes = max(self.n_reals, e.ms_ssim_images if e.ms_ssim else 0)
        rows = np.arange(self.n_reals) % len(table["scores"])
        self.reals = images.to_uint8(data.eval_images(table, self.config.img_size, rows=rows))
        if e.mirror_reals and self.config.data.get("mirror_augment", False):
            flip = np.random.default_rng([e.seed, 3]).random(len(self.reals)) < 0.5  # apply_mirror_augment
            self.reals[flip] = self.reals[flip, :, ::-1]
        self.betas = family.beta_pool("eval")
        self._real_stats = None

    def generate(self, g_params, step: int) -> np.ndarray:
        """uint8 (n_fakes, S, S, 3) fakes (every host gets them all)."""
        e, fam = self.config.eval, self.family
        level, fade = fam.level_of(step)
        rep, data_sh = mesh_lib.replicated(self.mesh), mesh_lib.batch_sharding(self.mesh)
        gen = jax.jit(
            lambda g, z, b: fam.render(g, z, b, level, fade),
            in_shardings=(rep, data_sh, data_sh),
            out_shardings=data_sh,
        )
        rng = np.random.default_rng([e.seed, 1])
        out = []
        for start in range(0, self.n_fakes, self.batch):
            z = rng.standard_normal((self.batch, fam.latent_size)).astype(np.float32)
            b = self.betas[rng.integers(0, len(self.betas), self.batch)].astype(np.float32)
            imgs = fid.gather(gen(jax.device_put(g_params, rep), *[jax.device_put(a, data_sh) for a in (z, b)]))
            out.append(images.to_uint8(imgs))
        return np.concatenate(out)[: self.n_fakes]

    def _fid_stats(self, imgs) -> fid.RunningStats:
        variant = self.config.eval.inception

        def load(idx):
            return np.stack([preprocess.inception_image(imgs[i if i >= 0 else 0], variant) for i in idx])

        return fid.stats_of(len(imgs), load, self.extractor, self.batch, self.feature_dim)

    def __call__(self, state, step: int, out_dir: str) -> dict:
        """The protocol on the EMA generator Gs (state.ema["G"])."""
        c, e = self.config, self.config.eval
        fakes = self.generate(state.sampling_params()["G"], step)
        metrics = {}
        rng = np.random.default_rng([e.seed, 2])
        if e.swd:
            swd = pggan.SWD(c.img_size, rng)
            for kind, imgs in (("reals", self.reals[: e.swd_images]), ("fakes", fakes[: e.swd_images])):
                for i in range(0, len(imgs), 256):
                    swd.feed(kind, imgs[i : i + 256].transpose(0, 3, 1, 2))
            metrics.update(swd.distances())
        if e.ms_ssim:
            pairs = e.ms_ssim_images // 2
            metrics["MS-SSIM"] = pggan.msssim(fakes[0 : 2 * pairs : 2], fakes[1 : 2 * pairs : 2])
        if self.extractor is not None:
            if self._real_stats is None:
                self._real_stats = self._fid_stats(self.reals[: e.num_images])
            metrics["FID"] = fid.fid_from_stats(self._real_stats, self._fid_stats(fakes[: e.num_images]), e.fid_method)
        counts = {"num_images": int(e.num_images)} if e.fid else {}
        counts.update({"swd_images": int(e.swd_images)} if e.swd else {})
        counts.update({"ms_ssim_images": int(e.ms_ssim_images)} if e.ms_ssim else {})
        report = {"step": int(step), **counts, "img_size": int(c.img_size), **metrics}
        files = {}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report, table(report)))
            k = min(len(fakes), 32)
            files["grids"] = [images.save_png(os.path.join(out_dir, "fakes.png"), images.make_grid(fakes[:k], ncol=8))]
        return {"metrics": metrics, "report": report, "files": files, "table": table(report)}


def table(report: dict) -> str:
    swd_keys = sorted(
        (k for k in report if k.startswith("SWDx1e3_") and k != "SWDx1e3_avg"), key=lambda k: int(k.split("_")[1])
    )
    head = "| Method | " + " | ".join(f"SWD {k.split('_')[1]}²" for k in swd_keys) + " | SWD avg | MS-SSIM | FID |"
    lines = [head, "|" + "---|" * (len(swd_keys) + 4)]
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    lines.append(
        f"| facejax (step {report['step']}, {report['img_size']} px) | "
        + " | ".join(fmt(report[k]) for k in swd_keys)
        + f" | {fmt(report.get('SWDx1e3_avg'))} | {fmt(report.get('MS-SSIM'))} | {fmt(report.get('FID'))} |"
    )
    if report["img_size"] == 128:  # the paper's rows (levels 16 -> 128)
        for name, (levels, avg, ms) in PAPER.items():
            vals = dict(zip((16, 32, 64, 128), levels))
            lines.append(
                f"| {name} (paper) | "
                + " | ".join(f"{vals[int(k.split('_')[1])]:.2f}" for k in swd_keys)
                + f" | {avg:.2f} | {ms:.3f} | |"
            )
    return "\n".join(lines)

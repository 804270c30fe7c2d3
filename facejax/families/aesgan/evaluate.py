"""AesGAN's evaluation (``facejax eval``): the eval split's targets in-painted with their selected references.

Numbers (outputs are the composites x~, compared with the targets x):
  FID       Inception features of the outputs against the targets' (config.eval.inception_weights; skipped when
            empty), pytorch-fid's formula
  PSNR, SSIM (per image, mean), MS-SSIM (images must be larger than 160 px; NaN below)
  aesthetic the frozen aesthetic network's score of the eye crops of the outputs, of the inputs (the targets as
            they are) and of the masked inputs; "gain" = outputs - inputs
With Celeb-ID's test split the targets have closed eyes, so PSNR/SSIM measure the distance to the closed-eye
photo (ExGAN's numbers are computed the same way); synthetic_faces' test targets ("all") include open eyes.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax import images as images_lib
from facejax.families import base
from facejax.families.aesgan import references, sample
from facejax.metrics import fid, inception, preprocess
from facejax.metrics import report as eval_report
from facejax.metrics import ssim as ssim_lib
from facejax.train import mesh as mesh_lib

HEADLINE = (
    base.Metric("FID", "FID", "{:.2f}"),
    base.Metric("PSNR", "PSNR", "{:.2f}"),
    base.Metric("SSIM", "SSIM"),
    base.Metric("MS-SSIM", "MS-SSIM"),
    base.Metric("aesthetic/outputs", "aesthetic out"),
    base.Metric("aesthetic/gain", "aesthetic gain"),
)


class Evaluator:
    """`evaluator(state, step, out_dir)` -> {"metrics", "report", "files", "table"}: the generator of state.params
    (AesGAN keeps no EMA). E comes from the config's aesthetic checkpoint (the network the run was trained with)."""

    def __init__(self, family, mesh=None, *, features=None):
        self.family, self.config = family, family.config
        e = self.config.eval
        self.mesh = mesh if mesh is not None else mesh_lib.make_mesh()
        self.batch = max(1, int(e.batch_size))
        self.extractor = None
        if features is not None:
            self.extractor = fid.Extractor(lambda p, x: features(x), {}, self.mesh)
            self.feature_dim = int(
                jax.eval_shape(
                    features, jax.ShapeDtypeStruct((1, self.config.img_size, self.config.img_size, 3), np.float32)
                ).shape[1]
            )
            self.inception_file = "(test features)"
        elif e.inception_weights:
            params = inception.load_params(e.inception_weights, e.inception, "config.eval.inception_weights")
            variant = e.inception
            self.extractor = fid.Extractor(lambda p, x: inception.features(p, x, variant), params, self.mesh)
            self.feature_dim = inception.FEATURE_DIM
            self.inception_file = os.path.basename(e.inception_weights)
        self.e_params = family.frozen("E")
        self.pairs = family.pairs("eval")
        self._fid_batch = fid.padded_batch_size(self.batch, self.mesh) if self.extractor is not None else 0

    def _stats(self, imgs_uint8):
        variant = self.config.eval.inception

        def load(idx):
            return np.stack([preprocess.inception_image(imgs_uint8[i if i >= 0 else 0], variant) for i in idx])

        return fid.stats_of(len(imgs_uint8), load, self.extractor, self._fid_batch, self.feature_dim)

    def outputs(self, params) -> dict:
        """{x, masked, ref, out, eyes} over every pair (numpy, [-1, 1]) from the generator params["G"]."""
        f, n, b = self.family, len(self.pairs.target), self.batch
        parts = {k: [] for k in ("x", "masked", "ref", "out", "eyes")}
        for i in range(0, n, b):
            idx = np.arange(i, min(i + b, n))
            pad = np.concatenate([idx, np.repeat(idx[-1:], b - len(idx))])
            batch = references.batch_of(self.pairs, pad, self.config.img_size, minmax=self.config.data.bytescale)
            out, masked = f.sampler.inpaint(params["G"], batch)
            for k, v in (
                ("x", batch["x"]),
                ("masked", masked),
                ("ref", batch["ref"]),
                ("out", out),
                ("eyes", batch["eyes"]),
            ):
                parts[k].append(np.asarray(v)[: len(idx)])
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _scores(self, imgs, eyes):
        b, out = self.batch, []
        for i in range(0, len(imgs), b):
            x, e = imgs[i : i + b], eyes[i : i + b]
            pad = b - len(x)
            if pad:
                x, e = np.concatenate([x, np.repeat(x[-1:], pad, 0)]), np.concatenate([e, np.repeat(e[-1:], pad, 0)])
            out.append(np.asarray(self.family.eye_scores(self.e_params, x, e))[: b - pad])
        return np.concatenate(out)

    def __call__(self, state, step: int, out_dir) -> dict:
        c = self.config
        out_dir = str(out_dir)
        r = self.outputs({"G": jax.device_get(state.params["G"])})
        x, out = r["x"], r["out"]
        metrics = {
            "PSNR": float(np.mean(np.asarray(ssim_lib.psnr(out, x, 2.0)))),
            "SSIM": float(np.mean(np.asarray(ssim_lib.ssim(out, x, 2.0)))),
        }
        side = c.img_size
        metrics["MS-SSIM"] = float(np.mean(np.asarray(ssim_lib.ms_ssim(out, x, 2.0)))) if side > 160 else float("nan")
        s_in, s_out = self._scores(x, r["eyes"]), self._scores(out, r["eyes"])
        s_masked = self._scores(r["masked"], r["eyes"])
        metrics.update(
            {
                "aesthetic/outputs": float(np.mean(s_out)),
                "aesthetic/inputs": float(np.mean(s_in)),
                "aesthetic/masked": float(np.mean(s_masked)),
                "aesthetic/gain": float(np.mean(s_out - s_in)),
                "aesthetic/outputs_above_inputs": float(np.mean(s_out > s_in)),
            }
        )
        if self.extractor is not None:
            metrics["FID"] = fid.fid_from_stats(
                self._stats(images_lib.to_uint8(x)), self._stats(images_lib.to_uint8(out)), c.eval.fid_method
            )
        report = {
            "step": int(step),
            "metrics": metrics,
            "num_pairs": int(len(x)),
            "num_targets": int(len(np.unique(self.pairs.target))),
            "targets": c.eval.targets,
            "references": c.eval.references,
            "img_size": int(side),
            "fid": ("outputs vs the targets, " + self.inception_file)
            if self.extractor is not None
            else "skipped (config.eval.inception_weights is empty)",
        }
        files = {"grids": []}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report, table(report)))
            k = min(c.eval.grid_targets, len(x))
            if k:
                files["grids"].append(
                    images_lib.save_png(
                        os.path.join(out_dir, "inpainting.png"),
                        sample.grid(x[:k], r["masked"][:k], r["ref"][:k], out[:k]),
                    )
                )
            if c.eval.save_images:
                for i, o in enumerate(images_lib.to_uint8(out)):
                    images_lib.save_png(os.path.join(out_dir, "outputs", f"{i:05d}.png"), o)
        return {"metrics": metrics, "report": report, "files": files, "table": table(report)}


def table(report: dict) -> str:
    m = report["metrics"]
    fid_s = f"{m['FID']:.2f}" if "FID" in m else "-"
    return "\n".join(
        [
            f"Eye in-painting at step {report['step']}: {report['num_pairs']} pairs ({report['num_targets']} targets, "
            f"eval.targets={report['targets']!r}, references from {report['references']!r}); FID: {report['fid']}",
            "",
            "| FID | PSNR | SSIM | MS-SSIM | aesthetic out | aesthetic in | aesthetic masked | out > in |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {fid_s} | {m['PSNR']:.2f} | {m['SSIM']:.4f} | {m['MS-SSIM']:.4f} | {m['aesthetic/outputs']:.4f} | "
            f"{m['aesthetic/inputs']:.4f} | {m['aesthetic/masked']:.4f} | {m['aesthetic/outputs_above_inputs']:.3f} |",
        ]
    )

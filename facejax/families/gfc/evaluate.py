"""GFC's evaluation, as the paper's (completion_beauty.md A.7): per mask type, the eval-split faces are completed
(G's output pasted into the noise-filled hole) and compared with the originals.

  PSNR          over the hole's pixels (data range 2, images in [-1, 1]), mean over images
  SSIM          on the hole's bounding box (Gaussian window 11, or the largest odd size the box allows), mean
  parsing       the frozen parsing network (eval mode) on the completed image against it on the original:
                pixel agreement and mean IoU over the classes present, inside the hole (the paper's
                parsing-consistency analysis; its exact score was not published in the sources read)
  FID           completed images against the originals, pytorch-fid's Inception (config.eval.inception_weights)
  noise fill    the PSNR of the masked input itself: what no completion scores

Mask types are config.eval.mask_types (boxes in config.masks). The paper's O1-O6 geometry was not retrieved;
facejax's boxes cover the same parts (eyes, mouth, half faces). The fill noise is drawn from a fixed key, so a
checkpoint's numbers are reproducible.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from facejax import images as images_lib
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.gfc import data, masks, pretrained, sample
from facejax.metrics import fid, inception, preprocess, ssim
from facejax.metrics import report as eval_report


def _odd_window(box_side: int) -> int:
    w = min(11, box_side)
    return w if w % 2 else w - 1


def parsing_agreement(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray, num_classes: int) -> tuple[float, float]:
    """(pixel agreement, mean IoU over classes present in either) of label maps inside the hole, one image."""
    inside = hole[..., 0] > 0
    p, t = pred[inside], truth[inside]
    acc = float(np.mean(p == t))
    ious = []
    for k in range(num_classes):
        union = np.sum((p == k) | (t == k))
        if union:
            ious.append(np.sum((p == k) & (t == k)) / union)
    return acc, float(np.mean(ious))


class Evaluator:
    """`evaluator(state, step, out_dir)` -> {"metrics", "report", "files", "table"}; G from state.params (GFC keeps
    no EMA), the parsing network from state.frozen. The metric weights are read
    here, so a missing file stops a run before it trains. ``features``: a replacement of the Inception features,
    fn(images in [0, 1]) -> (N, D) (tests)."""

    def __init__(self, family, mesh=None, *, features=None):
        self.family, self.config = family, family.config
        e = self.config.eval
        self.types = [t.strip() for t in e.mask_types.split(",") if t.strip()]
        if not self.types:
            raise FacejaxError("config.eval.mask_types is empty: name at least one mask type of config.masks")
        if e.batch_size < 1 or e.max_images < 0:
            raise FacejaxError("config.eval.batch_size must be >= 1 and config.eval.max_images >= 0")
        if e.fid_method not in fid.METHODS:
            raise FacejaxError(f"config.eval.fid_method={e.fid_method!r}: expected one of {', '.join(fid.METHODS)}")
        if e.parsing_score and not self.config.parsing_checkpoint:
            raise FacejaxError(
                "config.eval.parsing_score needs the parsing network the run was trained with: set "
                "config.parsing_checkpoint (a gfc_parsing run), or config.eval.parsing_score=False"
            )
        self.extractor = None
        if e.fid:
            if features is None:
                params = inception.load_params(e.inception_weights, e.inception, "config.eval.inception_weights")
                variant = e.inception
                self.extractor = fid.Extractor(lambda p, x: inception.features(p, x, variant), params, mesh)
                self.dim, self.inception_file = inception.FEATURE_DIM, os.path.basename(e.inception_weights)
            else:
                self.extractor = fid.Extractor(lambda p, x: features(x), {}, mesh)
                s = self.config.img_size
                self.dim = jax.eval_shape(features, jax.ShapeDtypeStruct((1, s, s, 3), np.float32)).shape[1]
                self.inception_file = "(test features)"
            self.batch = fid.padded_batch_size(e.batch_size, self.extractor.mesh)
        self.faces = data.eval_images(self.config, e.max_images)
        if len(self.faces["x"]) < 2:
            raise FacejaxError("the evaluation needs at least 2 eval-split faces")
        self._parse = jax.jit(lambda p, x: jnp.argmax(family.parse(p, x), axis=-1))
        self._real = None

    def _stats(self, imgs_uint8: np.ndarray) -> fid.RunningStats:
        variant = self.config.eval.inception

        def load(idx):
            return np.stack([preprocess.inception_image(imgs_uint8[i if i >= 0 else 0], variant) for i in idx])

        return fid.stats_of(len(imgs_uint8), load, self.extractor, self.batch, self.dim)

    def _labels(self, p_params, x):
        b = self.config.eval.batch_size
        return np.concatenate([np.asarray(self._parse(p_params, x[i : i + b])) for i in range(0, len(x), b)])

    def mask_metrics(self, nets, name: str) -> tuple[dict, np.ndarray, np.ndarray]:
        """({metric: value}, masked inputs, completed images) of one mask type; nets: {"G": ..., "P": ...}."""
        c, e = self.config, self.config.eval
        x = self.faces["x"]
        mask = masks.named_mask(c, name)
        x_in, comp = sample.complete(self.family, nets["G"], x, mask, chunk=e.batch_size)
        hole = mask[..., 0] > 0
        mse = np.mean(np.square(comp - x)[:, hole], axis=(1, 2))
        mse_in = np.mean(np.square(x_in - x)[:, hole], axis=(1, 2))
        out = {
            "PSNR": float(np.mean(10 * np.log10(4.0 / np.maximum(mse, 1e-12)))),
            "noise_fill_PSNR": float(np.mean(10 * np.log10(4.0 / np.maximum(mse_in, 1e-12)))),
        }
        t, l, h, w = masks.bounding_box(mask)
        win = _odd_window(min(h, w))
        crop = lambda a: a[:, t : t + h, l : l + w]  # noqa: E731
        out["SSIM"] = float(np.mean(np.asarray(ssim.ssim(crop(comp), crop(x), 2.0, win_size=win))))
        if e.parsing_score:
            k = c.model.parsing.num_classes
            truth, pred = self._labels(nets["P"], x), self._labels(nets["P"], comp)
            scores = np.array([parsing_agreement(p, g, mask, k) for p, g in zip(pred, truth)])
            out["parsing_acc"], out["parsing_mIoU"] = float(scores[:, 0].mean()), float(scores[:, 1].mean())
        if self.extractor is not None:
            if self._real is None:
                self._real = self._stats(images_lib.to_uint8(x))
            out["FID"] = fid.fid_from_stats(self._real, self._stats(images_lib.to_uint8(comp)), e.fid_method)
        return out, x_in, comp

    def __call__(self, state, step: int, out_dir) -> dict:
        out_dir = str(out_dir)
        weights = state.sampling_params()
        nets = jax.device_get({k: weights[k] for k in ("G", "P")})
        if self.config.eval.parsing_score and base.placeholder(nets["P"]):  # an import without Model_parsing
            nets["P"] = pretrained.load_parsing(self.config)
        per, grids = {}, []
        for name in self.types:
            per[name], x_in, comp = self.mask_metrics(nets, name)
            k = min(8, len(comp))
            tiles = np.stack([self.faces["x"][:k], x_in[:k], comp[:k]], axis=1)
            grids.append((name, images_lib.make_grid(images_lib.to_uint8(tiles.reshape((-1,) + comp.shape[1:])), 3)))
            if self.config.eval.save_images and jax.process_index() == 0:
                for fname, img in zip(self.faces["file_name"], images_lib.to_uint8(comp)):
                    stem = os.path.splitext(os.path.basename(fname))[0]
                    images_lib.save_png(os.path.join(out_dir, name, f"{stem}.png"), img)
        metrics = {f"{name}/{k}": v for name, m in per.items() for k, v in m.items()}
        for k in per[self.types[0]]:
            metrics[f"{k}/mean"] = float(np.mean([m[k] for m in per.values()]))
        report = {
            "step": int(step),
            "metrics": metrics,
            "mask_types": self.types,
            "masks": {n: self.config.masks[n] for n in self.types},
            "num_images": int(len(self.faces["x"])),
            "img_size": int(self.config.img_size),
            "inception_weights": getattr(self, "inception_file", None),
        }
        files = {"grids": []}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report, table(report)))
            for name, g in grids:
                files["grids"].append(images_lib.save_png(os.path.join(out_dir, f"completion_{name}.png"), g))
        return {"metrics": metrics, "report": report, "files": files, "table": table(report)}


def table(report: dict) -> str:
    m = report["metrics"]
    cols = [k for k in ("PSNR", "SSIM", "parsing_acc", "parsing_mIoU", "FID", "noise_fill_PSNR") if f"{k}/mean" in m]
    lines = [
        f"Face completion at step {report['step']} ({report['num_images']} eval faces, {report['img_size']} px; "
        f"PSNR/SSIM of the hole, parsing agreement inside it, FID of the completed images)",
        "",
        "| mask | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name in report["mask_types"] + ["mean"]:
        key = (lambda k: f"{name}/{k}") if name != "mean" else (lambda k: f"{k}/mean")
        lines.append(f"| {name} | " + " | ".join(f"{m[key(k)]:.3f}" for k in cols) + " |")
    return "\n".join(lines)

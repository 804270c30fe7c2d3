"""The makeup-transfer evaluation protocol (the FID / LPIPS table of the makeup-transfer papers on MT, makeup.md
section 2.8), shared by the makeup families: each passes its transfer function and the published rows it is compared
with.

What the paper states: every non-makeup test face is transferred with a random makeup reference; FID (TTUR, the
TF Inception) and LPIPS (PerceptualSimilarity, higher is better); results are the mean of 10 runs. What it does
not state (asked in the original's issue tracker, unanswered), and facejax therefore fixes as follows:

  * run r (0 .. config.eval.runs - 1) draws each source's reference uniformly from the makeup faces of the eval
    split, with ``np.random.default_rng([seed, 7, r])``;
  * FID: the run's outputs (uint8, as PNG files would hold them) against the makeup faces of the eval split (the
    references), with pytorch-fid's port of the TF Inception (config.eval.inception = "fid", as TTUR;
    images at img_size, resized to 299 by the network);
  * LPIPS (AlexNet, v0.1 heads, as the lpips package) is a diversity score: the mean distance between output i
    and output (i + k) mod n, k a random shift in 1 .. n-1 per run, i.e. between transfers of different faces
    with different references;
  * reported: the mean and standard deviation over runs, each run's values, and two reference rows computed
    with the same networks: "sources" (the untouched non-makeup faces in place of the outputs: what no transfer
    scores) and "references" (the LPIPS of the real makeup faces under the same pairing).

The protocol is family-agnostic: ``MakeupTransferEvaluator(config, transfer)`` takes ``transfer(ema, x_src,
x_ref) -> images`` (e.g. a generator's makeup head); a family whose sources carry per-face maps produces its row
the same way (: when the non-makeup dict has "extra", ``transfer(ema, x_src, x_ref, extra_src)``). Every step
is sharded over the mesh's ``data`` axis (generation, Inception, LPIPS); each process prepares the rows its
devices hold (facejax.metrics.fid.process_slices) and statistics are folded on every host.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax import images as images_lib
from facejax.errors import FacejaxError
from facejax.metrics import fid, inception, lpips, preprocess
from facejax.metrics import report as eval_report
from facejax.train import mesh as mesh_lib


def validate(config) -> None:
    e = config.eval
    if e.fid_method not in fid.METHODS:
        raise FacejaxError(f"config.eval.fid_method={e.fid_method!r}: expected one of {', '.join(fid.METHODS)}")
    if e.inception not in inception.VARIANTS:
        raise FacejaxError(
            f"config.eval.inception={e.inception!r}: expected 'fid' (pytorch-fid's TF-FID Inception, "
            f"as TTUR: the paper's) or 'imagenet'"
        )
    for name, low in (("runs", 1), ("batch_size", 1), ("max_sources", 0), ("max_references", 0), ("grid_sources", 0)):
        if e[name] < low:
            raise FacejaxError(f"config.eval.{name}={e[name]}: expected >= {low}")


class MakeupTransferEvaluator:
    """`evaluator(ema, step, out_dir)` -> {"metrics", "report", "files", "table"}.

    ``faces``: () -> (non-makeup, makeup) dicts with "x" ([-1, 1] float32 at img_size), e.g. a family's
    eval_faces; called after the metric weights are read.
    ``features``: optional replacement of the Inception features, fn(images in [0, 1]) -> (N, D) (tests).
    The metric weights are read here, so a missing file stops a run before it trains."""

    def __init__(
        self,
        config,
        transfer,
        faces,
        mesh=None,
        *,
        name: str = "model",
        features=None,
        published: tuple = (),
        protocol: str = "",
    ):
        """``published``: ((label, FID or None, LPIPS), ...) rows the table shows below the measured ones (what the
        papers report); ``protocol``: one line naming where the protocol comes from (saved in the report)."""
        validate(config)
        self.config, self.name = config, name
        self.published, self.protocol = tuple(published), protocol
        e = config.eval
        self.mesh = mesh if mesh is not None else mesh_lib.make_mesh()
        self.batch = fid.padded_batch_size(e.batch_size, self.mesh)
        self.local = self.batch // jax.process_count()
        self.variant = e.inception
        if features is None:
            params = inception.load_params(e.inception_weights, self.variant, "config.eval.inception_weights")
            variant = self.variant
            self.extractor = fid.Extractor(lambda p, x: inception.features(p, x, variant), params, self.mesh)
            self.inception_file = os.path.basename(e.inception_weights)
            self.feature_dim = inception.FEATURE_DIM
        else:
            self.extractor = fid.Extractor(lambda p, x: features(x), {}, self.mesh)
            self.inception_file = "(test features)"
            s = config.img_size
            self.feature_dim = jax.eval_shape(features, jax.ShapeDtypeStruct((1, s, s, 3), np.float32)).shape[1]
        lp = lpips.load_params(
            e.alexnet_weights,
            e.lpips_lin_weights,
            alexnet_field="config.eval.alexnet_weights",
            lin_field="config.eval.lpips_lin_weights",
        )
        self.lpips = fid.Extractor(lambda p, x: lpips.distance(p, x[:, 0], x[:, 1]), lp, self.mesh)
        rep, data = mesh_lib.replicated(self.mesh), mesh_lib.batch_sharding(self.mesh)
        self._rep, self._data = rep, data
        plain, made_up = faces()
        n_src = e.max_sources or len(plain["x"])
        n_ref = e.max_references or len(made_up["x"])
        # per-source inputs besides the image (e.g. a mask and a texture map), passed as transfer's 4th argument
        self.source_extra = np.asarray(plain["extra"][:n_src]) if plain.get("extra") is not None else None
        shardings = (rep, data, data) + ((data,) if self.source_extra is not None else ())
        self._gen = jax.jit(transfer, in_shardings=shardings, out_shardings=data)
        self.sources = images_lib.to_uint8(plain["x"][:n_src])
        self.references = images_lib.to_uint8(made_up["x"][:n_ref])
        if len(self.sources) < 2 or len(self.references) < 2:
            raise FacejaxError(
                f"the evaluation needs at least 2 non-makeup and 2 makeup faces in the eval split; it "
                f"has {len(self.sources)} and {len(self.references)}"
            )
        self._real = None
        self._baseline = None

    # ------------------------------------------------------------------------- pieces

    def _stats(self, imgs_uint8: np.ndarray) -> fid.RunningStats:
        def load(idx):
            return np.stack([preprocess.inception_image(imgs_uint8[i if i >= 0 else 0], self.variant) for i in idx])

        return fid.stats_of(len(imgs_uint8), load, self.extractor, self.batch, self.feature_dim)

    def _lpips_pairs(self, imgs_uint8: np.ndarray, shift: int) -> float:
        n = len(imgs_uint8)
        vals = []
        for idx, valid in fid.process_slices(n, self.batch):
            rows = [
                np.stack(
                    [
                        preprocess.lpips_image(imgs_uint8[i if i >= 0 else 0]),
                        preprocess.lpips_image(imgs_uint8[((i if i >= 0 else 0) + shift) % n]),
                    ]
                )
                for i in idx
            ]
            vals.append(self.lpips(np.stack(rows))[:valid])
        return float(np.mean(np.concatenate(vals).astype(np.float64)))

    def _generate(self, ema, ref_idx: np.ndarray) -> np.ndarray:
        """uint8 outputs of every source with its reference (all rows, on every host)."""
        outs = []
        for idx, valid in fid.process_slices(len(self.sources), self.batch):
            safe = [i if i >= 0 else 0 for i in idx]
            x = preprocess.lpips_image(self.sources[safe])
            y = preprocess.lpips_image(self.references[ref_idx[safe]])
            args = [
                jax.make_array_from_process_local_data(self._data, x),
                jax.make_array_from_process_local_data(self._data, y),
            ]
            if self.source_extra is not None:
                args.append(jax.make_array_from_process_local_data(self._data, self.source_extra[safe]))
            out = self._gen(ema, *args)
            outs.append(images_lib.to_uint8(fid.gather(out))[:valid])
        return np.concatenate(outs)

    def run_draws(self, r: int) -> tuple[np.ndarray, int]:
        """(reference index per source, LPIPS pairing shift) of run r."""
        rng = np.random.default_rng([self.config.seed, 7, r])
        ref_idx = rng.integers(0, len(self.references), len(self.sources))
        shift = int(rng.integers(1, len(self.sources)))
        return ref_idx, shift

    def real_stats(self) -> fid.RunningStats:
        if self._real is None:
            self._real = self._stats(self.references)
        return self._real

    def baseline(self) -> dict:
        """The reference rows: untouched sources as outputs, and the real makeup faces' own LPIPS."""
        if self._baseline is None:
            method = self.config.eval.fid_method
            shift = int(np.random.default_rng([self.config.seed, 8]).integers(1, len(self.sources)))
            rshift = int(np.random.default_rng([self.config.seed, 9]).integers(1, len(self.references)))
            self._baseline = {
                "sources/FID": fid.fid_from_stats(self.real_stats(), self._stats(self.sources), method),
                "sources/LPIPS": self._lpips_pairs(self.sources, shift),
                "references/LPIPS": self._lpips_pairs(self.references, rshift),
            }
        return self._baseline

    # ------------------------------------------------------------------------- protocol

    def __call__(self, ema, step: int, out_dir) -> dict:
        c = self.config
        out_dir = str(out_dir)
        ema = jax.device_put(ema, self._rep)
        fids, lps, grid = [], [], None
        for r in range(c.eval.runs):
            ref_idx, shift = self.run_draws(r)
            outs = self._generate(ema, ref_idx)
            fids.append(fid.fid_from_stats(self.real_stats(), self._stats(outs), c.eval.fid_method))
            lps.append(self._lpips_pairs(outs, shift))
            if c.eval.save_images and jax.process_index() == 0:
                for i, o in enumerate(outs):
                    images_lib.save_png(os.path.join(out_dir, f"run{r:02d}", f"{i:05d}_ref{ref_idx[i]:05d}.png"), o)
            if r == 0 and c.eval.grid_sources:
                k = min(c.eval.grid_sources, len(outs))
                tiles = np.stack([self.sources[:k], self.references[ref_idx[:k]], outs[:k]], axis=1)
                grid = images_lib.make_grid(tiles.reshape((-1,) + tiles.shape[2:]), ncol=3)
        metrics = {
            "FID/mean": float(np.mean(fids)),
            "FID/std": float(np.std(fids)),
            "LPIPS/mean": float(np.mean(lps)),
            "LPIPS/std": float(np.std(lps)),
        }
        metrics.update({f"baseline/{k}": v for k, v in self.baseline().items()})
        report = {
            "step": int(step),
            "model": self.name,
            "metrics": metrics,
            "runs": {"FID": fids, "LPIPS": lps},
            "protocol": self.protocol or "every non-makeup eval face with a random makeup reference, mean of runs",
            "published": [list(r) for r in self.published],
            "num_sources": int(len(self.sources)),
            "num_references": int(len(self.references)),
            "inception": self.variant,
            "inception_weights": self.inception_file,
            "fid_reals": "the makeup faces of the eval split",
            "fid_method": c.eval.fid_method,
            "lpips": "lpips 0.1.4 AlexNet v0.1 between output i and output (i + k) mod n, k random per run",
            "img_size": int(c.img_size),
        }
        files = {"grids": []}
        if jax.process_index() == 0:
            files.update(eval_report.write(out_dir, report, table(report)))
            if grid is not None:
                files["grids"].append(images_lib.save_png(os.path.join(out_dir, "transfers.png"), grid))
        return {"metrics": metrics, "report": report, "files": files, "table": table(report)}


class FamilyEvaluator(MakeupTransferEvaluator):
    """The protocol on a makeup family's own faces and transfer: ``family`` has .config (with config.eval),
    .transfer(weights, x_src, x_ref[, extra]) and .eval_faces(cap). evaluate(state, step, out_dir) transfers with
    state.params["G"] (the makeup originals keep no EMA)."""

    def __init__(self, family, mesh=None, *, name: str, published: tuple = (), protocol: str = "", features=None):
        validate(family.config)
        e = family.config.eval
        cap = max(e.max_sources, e.max_references) if e.max_sources and e.max_references else 0
        super().__init__(
            family.config,
            family.transfer,
            lambda: family.eval_faces(cap),
            mesh,
            name=name,
            features=features,
            published=published,
            protocol=protocol,
        )

    def __call__(self, state, step: int, out_dir) -> dict:
        return super().__call__({"G": state.params["G"]}, step, out_dir)


def table(report: dict) -> str:
    m = report["metrics"]
    n = len(report["runs"]["FID"])
    return "\n".join(
        [
            f"Makeup transfer at step {report['step']} ({report['num_sources']} non-makeup faces, "
            f"random references among {report['num_references']} makeup faces, {n} run(s); FID with the "
            f"{report['inception']!r} Inception ({report['inception_weights']}) against the makeup faces; LPIPS "
            f"diversity).",
            "",
            "| method | FID | LPIPS |",
            "|---|---:|---:|",
            f"| {report['model']} | {m['FID/mean']:.2f} +- {m['FID/std']:.2f} | {m['LPIPS/mean']:.3f} +- "
            f"{m['LPIPS/std']:.3f} |",
            f"| sources (no transfer) | {m['baseline/sources/FID']:.2f} | {m['baseline/sources/LPIPS']:.3f} |",
            f"| references (real makeup) | - | {m['baseline/references/LPIPS']:.3f} |",
            *(
                f"| {label} | {'-' if f is None else f'{f:.2f}'} | {'-' if lp is None else f'{lp:.3f}'} |"
                for label, f, lp in report.get("published", ())
            ),
        ]
    )

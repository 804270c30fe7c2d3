"""The predictor's evaluation, its file (the original's VGG16_beauty_rates.pt), and the semi-supervised labelling.

PredictorEvaluator (`facejax eval` and eval_every): every face of the eval split resized to the input size (no
augmentation, as the original's test transform), predicted beta; reports the Pearson correlation between the
predicted and the human mean score (the number facial-beauty papers report), the mean per-rater correlation,
the MSE on beta (the original's validation loss; the kept checkpoint's metric) and the MAE on the 1..5 scale.

label_dataset (`facejax prepare beauty_labels`, execute_beauty_prediction.py): every image of every split of a
TFDS dataset (CelebA-HQ in the paper) through the predictor (Resize to the input size, no crop, optional zero
padding), written as the TFDS dataset ``beauty_labels/<name>`` with features image (the source's file, unchanged),
scores (the predictions x 5: the 1..5 scale the original's All_Ratings.csv holds), beauty (their mean),
file_name, and the source's ClassLabel ``label`` when it has one. The GAN reads it with
config.data.name = "beauty_labels", config.data.config = <name>.
"""

from __future__ import annotations

import io
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.families.beholder import data
from facejax.families.beholder.torch_layout import PREDICTOR_FILE, predictor_layout, read_state_dict
from facejax.input.sources import tfds_builder
from facejax.train import trainer
from facejax.train.state import root_key_data


def pearson(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


class Predict:
    """Batched, jitted predictions of beta (padded to a fixed batch: one compilation)."""

    def __init__(self, family, params, batch_size: int):
        self.fn = jax.jit(family.predict)
        self.params, self.batch = params, batch_size

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(x), self.batch):
            chunk = x[i : i + self.batch]
            pad = self.batch - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)])
            out.append(np.asarray(self.fn(self.params, chunk))[: self.batch - pad])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class PredictorEvaluator:
    def __init__(self, family, mesh=None):
        self.family = family
        c = family.config
        table = family.read_split("eval")
        n = len(table["scores"]) if not c.eval.max_images else min(c.eval.max_images, len(table["scores"]))
        self.x = data.eval_images(table, c.model.input_size, rows=range(n))
        self.beta = table["scores"][:n] / c.data.score_scale
        if n < 2:
            raise FacejaxError(
                f"the predictor's evaluation needs at least 2 faces in the eval split "
                f"({c.data.eval_split!r}); it has {n}"
            )

    def __call__(self, state, step: int, out_dir: str) -> dict:
        c = self.family.config
        pred = Predict(self.family, state.sampling_params()["net"], c.eval.batch_size)(self.x)
        scale = c.data.score_scale
        metrics = {
            "pearson_mean_score": pearson(pred.mean(1), self.beta.mean(1)),
            "pearson_per_rater": float(
                np.mean([pearson(pred[:, r], self.beta[:, r]) for r in range(self.beta.shape[1])])
            ),
            "mse": float(np.mean((pred - self.beta) ** 2)),
            "mae_mean_score": float(np.mean(np.abs(pred.mean(1) - self.beta.mean(1)))) * scale,
        }
        report = {"step": int(step), "faces": int(len(self.x)), **metrics}
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "metrics.json")
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
        table = (
            f"beauty predictor, step {step}, {len(self.x)} held-out faces ({c.data.name} "
            f"{c.data.eval_split!r}):\n"
            f"  Pearson r (mean predicted vs mean human score)  {metrics['pearson_mean_score']:.4f}\n"
            f"  Pearson r per rater (mean over raters)           {metrics['pearson_per_rater']:.4f}\n"
            f"  MSE on beta = ratings / {scale:g}                       {metrics['mse']:.5f}\n"
            f"  MAE of the mean score (1..5 scale)               {metrics['mae_mean_score']:.4f}"
        )
        return {"metrics": metrics, "report": report, "files": {"metrics": path}, "table": table}


class PredictorFile:
    """Export / import of the original's VGG16_beauty_rates.pt (torchvision vgg16_bn state_dict, 60-way head)."""

    def __init__(self, family):
        self.family = family
        self.layout = predictor_layout(family)

    def file_networks(self, kind: str):
        return ("net",)

    def export(self, state, with_optim: bool = False) -> dict:
        if with_optim:
            raise FacejaxError("--with_optim: the original saves only the model's state_dict (VGG16_beauty_rates.pt)")
        return {"predictor": convert.to_torch(jax.device_get(state.params["net"]), self.layout)}

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict:
        sd = exported["predictor"]
        if fmt == "torch":
            return {"predictor": files.save_torch(os.path.join(out_dir, PREDICTOR_FILE), sd)}
        path = os.path.join(out_dir, PREDICTOR_FILE.replace(".pt", ".safetensors"))
        return {"predictor": files.save_safetensors(path, sd, {"format": "pt", "facejax_step": str(step)})}

    def load(self, path: str) -> dict:
        sd = files.load_safetensors(path)[0] if path.endswith(".safetensors") else read_state_dict(path, "--from")
        return convert.from_torch(sd, self.layout, source=path)


def import_predictor(family, source: str, step=None):
    """(step, state, paths, notes) from a VGG16_beauty_rates.pt (a file, or a folder holding one)."""
    path = source
    if os.path.isdir(source):
        cands = [n for n in sorted(os.listdir(source)) if n.startswith("VGG16_beauty_rates")]
        if not cands:
            raise FacejaxError(f"--from {source} holds no {PREDICTOR_FILE} (the original's predictor file)")
        path = os.path.join(source, cands[0])
    params = jax.tree.map(jnp.asarray, PredictorFile(family).load(path))
    base = jax.jit(family.init)(root_key_data(family.config.seed))
    state = base.replace(params={"net": params}, opt_state={"net": family.optimizer.init(params)})
    return int(step or 0), state, {"predictor": path}, ["the original saves no optimizer state: Adam starts fresh"]


# ------------------------------------------------------------------------------------------------ labelling


class _LabelsBuilder(tfds.dataset_builders.AdhocBuilder, skip_registration=True):
    """TFDS's ad-hoc builder (tfds.dataset_builders.store_as_tfds_dataset) with its code path set explicitly:
    TFDS's default looks the module up through the top-level package, which needs importlib_resources."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):

        return epath.Path(__file__)


def label_dataset(
    family, params, source: str, out_name: str, data_dir: str | None = None, source_data_dir: str | None = None
) -> dict:
    """Writes beauty_labels/<out_name> from the TFDS dataset `source` (NAME or NAME/CONFIG); returns a summary."""
    c = family.config
    if not out_name or "/" in out_name:
        raise FacejaxError(
            f"beauty_labels: --out={out_name!r}: expected a name for the labelled dataset (its TFDS "
            f"config), e.g. celeba_hq_128"
        )
    name, _, cfg = source.partition("/")
    src = tfds_builder(name, cfg, source_data_dir or data_dir or "")
    feats = src.info.features
    if "image" not in feats:
        raise FacejaxError(f"beauty_labels: --source={source} has no 'image' feature (it has {sorted(feats)})")
    target = data.labels_dir(data_dir or "", out_name)
    if os.path.exists(os.path.join(target, "dataset_info.json")):
        raise FacejaxError(f"{target} already holds a beauty_labels dataset; choose another --out or delete it")
    predict = Predict(family, params, c.label.batch_size)
    has_label = isinstance(feats.get("label") if hasattr(feats, "get") else None, tfds.features.ClassLabel)
    splits, counts = {}, {}
    for split in sorted(src.info.splits):
        ds = src.as_dataset(split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()})
        rows = list(ds.as_numpy_iterator())
        table = {"image": np.array([r["image"] for r in rows], dtype=object)}
        x = data.eval_images(table, c.model.input_size, c.label.pad_x, c.label.pad_y)
        scores = predict(x) * c.data.score_scale
        examples = []
        for i, (r, s) in enumerate(zip(rows, scores)):
            fname = r.get("file_name", f"{split}_{i:06d}".encode())
            fname = fname.decode() if isinstance(fname, bytes) else str(fname)
            ex = {
                "image": io.BytesIO(r["image"]),
                "scores": s.astype(np.float32),
                "beauty": np.float32(s.mean()),
                "file_name": fname,
            }
            if has_label:
                ex["label"] = int(r["label"])
            examples.append((f"{split}_{i:06d}", ex))
        splits[split], counts[split] = examples, len(examples)
    features = {
        "image": tfds.features.Image(shape=(None, None, 3)),
        "scores": tfds.features.Tensor(shape=(c.num_raters,), dtype=np.float32),
        "beauty": tfds.features.Tensor(shape=(), dtype=np.float32),
        "file_name": tfds.features.Text(),
    }
    if has_label:
        features["label"] = tfds.features.ClassLabel(names=feats["label"].names)
    root = data_dir or os.path.expanduser("~/tensorflow_datasets")
    builder = _LabelsBuilder(
        name=data.LABELS_NAME,
        version=data.LABELS_VERSION,
        features=tfds.features.FeaturesDict(features),
        split_datasets=splits,
        config=out_name,
        data_dir=root,
        disable_shuffling=True,
        description=f"{source} labelled by Beholder-GAN's beauty predictor ({c.num_raters} raters, scores 1..5).",
    )
    builder.download_and_prepare()
    return {
        "name": f"{data.LABELS_NAME}/{out_name}",
        "source": source,
        "splits": counts,
        "data_dir": root,
        "path": target,
    }


def prepare(config, workdir: str, source: str, out_name: str, data_dir: str | None) -> dict:
    """`facejax prepare beauty_labels`: the predictor of `workdir` (its best-validation checkpoint, see
    restore_predictor) labels `source`."""
    if config is None or config.get("family") != "beholder_predictor":
        raise FacejaxError(
            "beauty_labels: give the predictor's config, e.g. --config=configs/beholder.py:scut_fbp5500 "
            "(family beholder_predictor), and its run with --workdir"
        )
    if not workdir:
        raise FacejaxError(
            "beauty_labels: --workdir is required (the predictor's run: train it with configs/"
            "beholder.py:scut_fbp5500, or `facejax import` its VGG16_beauty_rates.pt)"
        )
    if not source:
        raise FacejaxError(
            "beauty_labels: --source=NAME[/CONFIG] is required (the TFDS dataset to label, e.g. celeba_hq/256)"
        )
    step, state, family = restore_predictor(config, workdir)
    out = label_dataset(family, state.params["net"], source, out_name, data_dir, config.data.data_dir or None)
    return {**out, "predictor_step": step}


def restore_predictor(config, workdir: str):
    """(step, state, family) of the predictor that labels: as the original (execute_beauty_prediction.py loads
    VGG16_beauty_rates.pt, which train_beauty_prediction.py saves at the best validation loss), the checkpoint of
    the lowest config.eval.best_metric when config.label.checkpoint = "best" and the run has evaluated ones;
    the newest otherwise (a run trained without eval_every, or an imported VGG16_beauty_rates.pt, which is the
    original's best already)."""
    which = config.label.get("checkpoint", "best")
    if which not in ("best", "latest"):
        raise FacejaxError(
            f"config.label.checkpoint={which!r}: expected 'best' (the lowest validation "
            f"{config.eval.best_metric or 'metric'}, as the original) or 'latest'"
        )
    run = trainer.Run(config, workdir)
    ck = run.checkpointer
    try:
        step = ck.best_step() if which == "best" else None
        if step is None:
            step = ck.latest_step()
        if step is None:
            raise FacejaxError(f"beauty_labels: {workdir} has no checkpoint (expected {ck.directory}/<step>/)")
        ck.check_fits(step, config.to_dict(), run.family.architecture_fields)
        state = ck.restore(step, run.abstract_state)
    finally:
        ck.close()
    return int(step), state, run.family

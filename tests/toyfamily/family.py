"""A toy conditional GAN that lives only in the tests: the proof that a family is a folder, a config file and a
registry entry (here FACEJAX_FAMILIES="toy=tests.toyfamily.family:Toy"), and that every command serves it.

G: Linear(z + one-hot class -> 4x4xch), ReLU, nearest x4, Conv3x3 -> tanh (16 px). D: two Conv4x4/2 with
LeakyReLU, global mean, Linear -> one logit per class (the logit of the batch's class is judged). Non-saturating
losses, one D and one G Adam update per step, no EMA. Trained on synthetic_faces/gender_32 resized to 16 px.
"""

from __future__ import annotations

import glob
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from ml_collections import ConfigDict
from PIL import Image

from facejax import images
from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.families import base
from facejax.input import ops, sources, streams
from facejax.nn import layers
from facejax.train import mesh as mesh_lib
from facejax.train.checkpoint import Checkpointer
from facejax.train.state import TrainState, bind, count_params, root_key_data, split_params, step_key

NETS = ("G", "D")


class Generator(nnx.Module):
    def __init__(self, z_dim: int, num_classes: int, ch: int, *, rngs: nnx.Rngs):
        self.num_classes, self.ch = num_classes, ch
        self.fc = layers.Linear(z_dim + num_classes, 4 * 4 * ch, rngs=rngs)
        self.conv = layers.Conv2d(ch, 3, 3, 1, 1, rngs=rngs)

    def __call__(self, z, y):
        h = jax.nn.relu(self.fc(jnp.concatenate([z, jax.nn.one_hot(y, self.num_classes)], -1)))
        h = h.reshape(-1, 4, 4, self.ch)
        h = jnp.repeat(jnp.repeat(h, 4, axis=1), 4, axis=2)
        return jnp.tanh(self.conv(h))


class Discriminator(nnx.Module):
    def __init__(self, num_classes: int, ch: int, *, rngs: nnx.Rngs):
        self.conv1 = layers.Conv2d(3, ch, 4, 2, 1, rngs=rngs)
        self.conv2 = layers.Conv2d(ch, ch, 4, 2, 1, rngs=rngs)
        self.fc = layers.Linear(ch, num_classes, rngs=rngs)

    def __call__(self, x, y):
        h = jax.nn.leaky_relu(self.conv1(x), 0.2)
        h = jax.nn.leaky_relu(self.conv2(h), 0.2).mean((1, 2))
        return jnp.take_along_axis(self.fc(h), y[:, None], axis=1)[:, 0]


SPEC = convert.BASE_SPEC.merged(
    convert.LayoutSpec(order={"Generator": ("fc", "conv"), "Discriminator": ("conv1", "conv2", "fc")})
)
FILE = re.compile(r"^(?P<step>\d{6})_toy\.(ckpt|safetensors)$")


def _grid(x) -> np.ndarray:
    """[N, H, W, 3] in [-1, 1] -> one uint8 row."""
    return np.concatenate(list(images.to_uint8(np.asarray(x))), axis=1)


class Toy(base.Family):
    """The toy conditional GAN (core + SamplesFolders + Evaluates + TorchInterop + ImportsOwnFiles + TorchBaseline
    + Sweeps; the `distilled` preset: HasPrerequisites + LoadsPretrained)."""

    name = "toy"
    architecture_fields = ("img_size", "model.z_dim", "model.num_classes", "model.ch")
    description = "a toy conditional GAN (tests only)"
    folder_inputs = base.FolderInputs(
        src="images to draw beside a generated face each (any layout)",
        ref="optional: images whose order picks the class of each pair",
    )
    headline_metrics = (base.Metric("l1/mean", "L1 to eval images", "{:.4f}"),)

    def __init__(self, config):
        self.config = config
        m = config.model
        if config.img_size != 16:
            raise FacejaxError(f"config.img_size={config.img_size}: the toy family draws 16 px")
        if m.num_classes < 1 or m.z_dim < 1 or m.ch < 1:
            raise FacejaxError("config.model.z_dim, num_classes and ch: expected >= 1")
        self.graphdefs = {k: split_params(nnx.eval_shape(lambda k=k: self._build(nnx.Rngs(0))[k]))[0] for k in NETS}
        self.optimizers = {k: optax.adam(config.lr, b1=0.5, b2=0.999) for k in NETS}

    def _build(self, rngs):
        m = self.config.model
        return {
            "G": Generator(m.z_dim, m.num_classes, m.ch, rngs=rngs),
            "D": Discriminator(m.num_classes, m.ch, rngs=rngs),
        }

    # ---------------------------------------------------------------- core

    def init(self, root_key_data):
        nets = self._build(nnx.Rngs(params=jax.random.fold_in(jax.random.wrap_key_data(root_key_data), 0)))
        params = {k: split_params(v)[1] for k, v in nets.items()}
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=root_key_data,
            params=params,
            opt_state={k: self.optimizers[k].init(params[k]) for k in NETS},
            ema={},
            frozen={"T": jax.tree.map(jnp.zeros_like, params["G"])} if self.config.teacher.weight else {},
        )

    # ---------------------------------------------------------------- HasPrerequisites / LoadsPretrained

    @classmethod
    def prerequisites(cls, config):
        if not config.teacher.weight:
            return ()
        from facejax import configs

        part = configs.load("toy:small")
        part.model = config.model.copy_and_resolve_references()
        return (base.Prerequisite("teacher", "toy:small", part, "teacher.checkpoint", "the frozen teacher G"),)

    def load_pretrained(self, state):
        if not self.config.teacher.weight:
            return state
        path = self.config.teacher.checkpoint
        if not path:
            raise FacejaxError("config.teacher.checkpoint is empty: the workdir of a toy:small run")
        ck = Checkpointer(path)
        try:
            step = ck.latest_step()
            teacher = Toy(ConfigDict(ck.saved_config(step)))
            rep = mesh_lib.replicated(mesh_lib.make_mesh())
            abstract = jax.eval_shape(teacher.init, root_key_data(0))
            abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=rep), abstract)
            g = ck.restore(step, abstract).params["G"]
        finally:
            ck.close()
        return state.replace(frozen={"T": g})

    def generate(self, params, z, y):
        return bind(self.graphdefs["G"], params["G"])(z, y)

    def train_step(self, state, batch):
        key = step_key(state)
        x, y = batch["x"], batch["y"].astype(jnp.int32)
        z = jax.random.normal(key, (x.shape[0], self.config.model.z_dim))
        d_def = self.graphdefs["D"]

        def d_loss(pd):
            fake = self.generate(state.params, z, y)
            return (jax.nn.softplus(-bind(d_def, pd)(x, y)) + jax.nn.softplus(bind(d_def, pd)(fake, y))).mean()

        def g_loss(pg):
            fake = self.generate({"G": pg}, z, y)
            loss = jax.nn.softplus(-bind(d_def, state.params["D"])(fake, y)).mean()
            if self.config.teacher.weight:
                loss += (
                    self.config.teacher.weight * jnp.abs(fake - self.generate({"G": state.frozen["T"]}, z, y)).mean()
                )
            return loss

        ld, gd = jax.value_and_grad(d_loss)(state.params["D"])
        ud, od = self.optimizers["D"].update(gd, state.opt_state["D"], state.params["D"])
        params = {**state.params, "D": optax.apply_updates(state.params["D"], ud)}
        state = state.replace(params=params)
        lg, gg = jax.value_and_grad(g_loss)(params["G"])
        ug, og = self.optimizers["G"].update(gg, state.opt_state["G"], params["G"])
        params = {**params, "G": optax.apply_updates(params["G"], ug)}
        return state.replace(step=state.step + 1, params=params, opt_state={"D": od, "G": og}), {
            "D/loss": ld,
            "G/loss": lg,
        }

    def read(self, split: str, process_index: int = 0, process_count: int = 1):
        return sources.load_source(self.config.data, split, process_index, process_count)

    def train_dataset(self, local_batch, process_index, process_count, start_batch=0):
        source = self.read("train", process_index, process_count)
        table, n, size = source.tensors(), source.num_examples, self.config.img_size

        def element(position):
            i = position % n
            img = ops.eval_transform(ops.decode(table["image"][i], source.from_files), size)
            return {"x": img, "y": table["label"][i]}

        return streams.batches(element, local_batch, start_batch)

    def param_counts(self):
        abstract = nnx.eval_shape(lambda: self._build(nnx.Rngs(0)))
        return {k: count_params(split_params(v)[1]) for k, v in abstract.items()}

    def sample_inputs(self, n):
        rng = np.random.default_rng(self.config.seed)
        return {
            "z": rng.standard_normal((n, self.config.model.z_dim)).astype(np.float32),
            "y": (np.arange(n) % self.config.model.num_classes).astype(np.int32),
        }

    def sample_grids(self, state, inputs):
        return {"fake": _grid(jax.jit(self.generate)(state.sampling_params(), inputs["z"], inputs["y"]))}

    def bench_batch(self, batch_size, seed=0):
        rng = np.random.default_rng(seed)
        s = self.config.img_size
        return {
            "x": rng.uniform(-1, 1, (batch_size, s, s, 3)).astype(np.float32),
            "y": rng.integers(0, self.config.model.num_classes, batch_size).astype(np.int64),
        }

    # ---------------------------------------------------------------- SamplesFolders

    def sample_folders(self, state, request, out_dir):
        def listed(folder):
            paths = sorted(
                p
                for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                if p.lower().endswith(sources.IMAGE_EXTENSIONS)
            )
            if not paths:
                raise FacejaxError(f"{folder} holds no images")
            return paths

        srcs = listed(request.src)
        refs = listed(request.ref) if request.ref else [None]
        inputs = self.sample_inputs(len(srcs) * len(refs))
        y = np.array([j % self.config.model.num_classes for _ in srcs for j in range(len(refs))], np.int32)
        fakes = np.asarray(jax.jit(self.generate)(state.sampling_params(), inputs["z"], y))
        rows = []
        for k, (s, r) in enumerate((s, r) for s in srcs for r in refs):
            row = np.concatenate([sources.read_image(s, self.config.img_size), fakes[k]], axis=1)
            name = os.path.splitext(os.path.basename(s))[0] + (
                f"__{os.path.splitext(os.path.basename(r))[0]}" if r else ""
            )
            images.save_png(os.path.join(out_dir, f"{name}.png"), images.to_uint8(row))
            rows.append(row)
        grid = images.save_png(os.path.join(out_dir, "folders_grid.png"), images.to_uint8(np.concatenate(rows, 0)))
        return {"grid": grid, "count": len(rows), "pairs": len(rows)}

    # ---------------------------------------------------------------- TranslatesArrays

    def translate_inputs(self):
        k = self.config.model.num_classes
        return (
            base.TranslateInput("src", "image", "any picture, drawn beside a generated face", required=True),
            base.TranslateInput(
                "label",
                "number",
                f"class of the generated face, 0..{k - 1}",
                default=0,
                minimum=0,
                maximum=k - 1,
                integer=True,
            ),
        )

    def translate_arrays(self, state, src, ref=None, mask=None, *, label=0):
        """uint8 (len(src), S, 2 S, 3): each source (resized to S) beside a face of class `label` generated from
        sample_inputs' latents (what sample_folders writes without --ref)."""
        if ref is not None or mask is not None:
            raise FacejaxError("family toy: give src (and label=); it takes no ref or mask")
        k, s = self.config.model.num_classes, self.config.img_size
        if int(label) != label or not 0 <= label < k:
            raise FacejaxError(f"label={label}: expected an int 0..{k - 1}")
        z = self.sample_inputs(len(src))["z"]
        fakes = np.asarray(jax.jit(self.generate)(state.sampling_params(), z, np.full(len(src), label, np.int32)))
        x = np.stack([np.asarray(Image.fromarray(np.asarray(a, np.uint8)).resize((s, s), Image.BILINEAR)) for a in src])
        return np.concatenate([x, images.to_uint8(fakes)], axis=2)

    # ---------------------------------------------------------------- Evaluates

    def evaluator(self, mesh=None):
        del mesh
        n = int(self.config.eval.num_images)

        def evaluate(state, step, out_dir):
            source = self.read("eval")
            reals = np.stack(
                [
                    np.asarray(ops.eval_transform(ops.decode(b, source.from_files), self.config.img_size))
                    for b in source.table["image"][:n]
                ]
            )
            y = source.table["label"][:n].astype(np.int32)
            z = np.random.default_rng(step).standard_normal((len(y), self.config.model.z_dim)).astype(np.float32)
            fakes = np.asarray(jax.jit(self.generate)(state.sampling_params(), z, y))
            l1 = float(np.abs(fakes - reals).mean())
            os.makedirs(out_dir, exist_ok=True)
            metrics = {"l1/mean": l1, "images": float(len(y))}
            table = f"| metric | value |\n|---|---:|\n| L1 to eval images | {l1:.4f} |"
            with open(os.path.join(out_dir, "metrics.json"), "w") as f:
                json.dump({"step": step, "metrics": metrics}, f)
            with open(os.path.join(out_dir, "metrics.md"), "w") as f:
                f.write(table + "\n")
            grid = images.save_png(os.path.join(out_dir, "fakes.png"), _grid(fakes))
            return {
                "metrics": metrics,
                "table": table,
                "report": {"step": step, "metrics": metrics},
                "files": {"metrics": os.path.join(out_dir, "metrics.json"), "grids": [grid]},
            }

        return evaluate

    # ---------------------------------------------------------------- TorchInterop / ImportsOwnFiles

    def torch_layout(self):
        return ToyLayout(self)

    def import_files(self, source, step=None):
        layout = self.torch_layout()
        step, path = layout.find(source, step)
        params = layout.load(path)
        state = jax.device_get(jax.jit(self.init)(root_key_data(self.config.seed)))
        return step, state.replace(params=params), {"nets": path}, ["the Adam states start fresh"]

    # ---------------------------------------------------------------- TorchBaseline

    def bench_torch_step(self, seed=0):
        if self.config.dtype != "float32":
            raise FacejaxError(f"config.dtype={self.config.dtype!r}: the toy PyTorch baseline runs float32 only")
        return TorchRunner(self, seed)

    # ---------------------------------------------------------------- Sweeps

    @classmethod
    def sweep_rows(cls):
        return {"small": "Toy baseline", "wide": "+ wider networks"}

    @classmethod
    def sweep_eval_files(cls):
        return ()


class ToyLayout:
    """One file per step, <step:06d>_toy.ckpt = {"G": state_dict, "D": state_dict}."""

    def __init__(self, family):
        abstract = nnx.eval_shape(lambda: family._build(nnx.Rngs(0)))
        self.nets = {k: convert.layout(abstract[k], SPEC, k) for k in NETS}

    def file_networks(self, kind):
        return NETS

    def export(self, state, with_optim=False):
        if with_optim:
            raise FacejaxError("--with_optim: the toy family writes its networks only")
        params = jax.device_get(state.params)
        return {"nets": {k: convert.to_torch(params[k], self.nets[k]) for k in NETS}}

    def write(self, exported, out_dir, step, fmt):
        obj = exported["nets"]
        if fmt == "torch":
            return {"nets": files.save_torch(os.path.join(out_dir, f"{step:06d}_toy.ckpt"), obj)}
        flat = {f"{k}.{n}": v for k, sd in obj.items() for n, v in sd.items()}
        return {"nets": files.save_safetensors(os.path.join(out_dir, f"{step:06d}_toy.safetensors"), flat)}

    def find(self, source, step=None):
        if os.path.isfile(source):
            m = FILE.match(os.path.basename(source))
            if not m:
                raise FacejaxError(f"{source}: expected <step>_toy.ckpt")
            return int(m.group("step")), source
        found = {
            int(m.group("step")): os.path.join(source, n) for n in sorted(os.listdir(source)) if (m := FILE.match(n))
        }
        if not found or (step is not None and step not in found):
            raise FacejaxError(f"{source} has no <step>_toy.ckpt" + (f" of step {step}" if step is not None else ""))
        step = max(found) if step is None else step
        return step, found[step]

    def load(self, path):
        if path.endswith(".safetensors"):
            tensors, _ = files.load_safetensors(path)
            obj = {}
            for k, v in tensors.items():
                net, _, key = k.partition(".")
                obj.setdefault(net, {})[key] = v
        else:
            obj = files.load_torch(path)
        return {k: convert.from_torch(obj[k], self.nets[k], source=path) for k in NETS}


class TorchRunner:
    """The toy iteration in PyTorch eager mode on tests/toyfamily/torch_ref.py."""

    def __init__(self, family, seed):
        from tests.toyfamily import torch_ref

        from facejax.bench.torch_common import import_torch

        self.torch = torch = import_torch()
        torch.manual_seed(seed)
        m = family.config.model
        self.device = torch.device("cpu")
        self.g = torch_ref.Generator(m.z_dim, m.num_classes, m.ch)
        self.d = torch_ref.Discriminator(m.num_classes, m.ch)
        self.z_dim = m.z_dim
        self.opt_g = torch.optim.Adam(self.g.parameters(), family.config.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), family.config.lr, betas=(0.5, 0.999))

    def to_torch(self, batch):
        torch = self.torch
        return {
            "x": torch.from_numpy(np.ascontiguousarray(batch["x"].transpose(0, 3, 1, 2))),
            "y": torch.from_numpy(batch["y"].astype(np.int64)),
        }

    def step(self, batch):
        F = self.torch.nn.functional
        x, y = batch["x"], batch["y"]
        z = self.torch.randn(x.shape[0], self.z_dim)
        self.opt_d.zero_grad()
        ld = (F.softplus(-self.d(x, y)) + F.softplus(self.d(self.g(z, y).detach(), y))).mean()
        ld.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        lg = F.softplus(-self.d(self.g(z, y), y)).mean()
        lg.backward()
        self.opt_g.step()
        return float(lg.detach())

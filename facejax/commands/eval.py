"""facejax eval: FID / LPIPS between folders, and a family's evaluation protocol on a run.

  facejax eval fid --weights=FILE --a=DIR|STATS.npz --b=DIR|STATS.npz [--inception=auto|fid|imagenet]
      FID between two image folders (or pytorch-fid .npz statistics). The Inception variant follows
      the weight file: pt_inception-2015-12-05-6726825d.pth -> pytorch-fid's FID (images as they
      are, bilinear resize to 299 without antialias); inception_v3_google-0cc3c7bd.pth -> StarGAN v2's
      variant (PIL resize to --eval_resize if given, then to 299; ImageNet mean/std).
  facejax eval fid_stats --weights=FILE --a=DIR --out=STATS.npz
      pytorch-fid's statistics file (mu, sigma) of a folder.
  facejax eval lpips --weights=alexnet-owt-7be5be79.pth --a=DIR --b=DIR [--lpips_lin=alex.pth]
      Mean LPIPS (lpips 0.1.4, AlexNet, v0.1 heads) over image pairs with the same file name.
  facejax eval --config=configs/<family>.py:PRESET --workdir=RUN [--eval_checkpoint=latest|best|STEP]
      The family's protocol (e.g. StarGAN v2: FID and LPIPS per task, latent- and reference-guided) on
      the run's checkpoint; writes RUN/eval/<step>/metrics.json, metrics.md and sample grids.
--json prints one JSON object as the last line of stdout.
"""

import json
import os

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "FID/LPIPS between folders (eval fid|fid_stats|lpips), or the family's protocol on --workdir"
NEEDS_CONFIG = False


WEIGHTS = common.flag(
    flags.DEFINE_string, "weights", None, "eval: metric network weight file (.pth as released, or .npz)"
)
A = common.flag(flags.DEFINE_string, "a", None, "eval: first image folder (or pytorch-fid .npz statistics for fid)")
B = common.flag(flags.DEFINE_string, "b", None, "eval: second image folder (or pytorch-fid .npz statistics for fid)")
LPIPS_LIN = common.flag(
    flags.DEFINE_string,
    "lpips_lin",
    None,
    "eval lpips: lpips v0.1 alex.pth heads (default: the installed lpips package's)",
)
EVAL_RESIZE = common.flag(
    flags.DEFINE_integer,
    "eval_resize",
    0,
    "eval fid: PIL-resize images to this size first (StarGAN v2 resizes to img_size); 0 = no",
)
FID_METHOD = common.flag(
    flags.DEFINE_string,
    "fid_method",
    "sqrtm",
    "eval fid: sqrtm (pytorch-fid's scipy.linalg.sqrtm) or eigh (same value, much faster)",
)
EVAL_BATCH = common.flag(flags.DEFINE_integer, "eval_batch_size", 50, "eval fid/lpips: images per global batch")
EVAL_CHECKPOINT = common.flag(
    flags.DEFINE_string,
    "eval_checkpoint",
    "latest",
    "eval --workdir: which checkpoint: latest, best (lowest config.eval.best_metric) or a step",
)
INCEPTION = common.flag(
    flags.DEFINE_enum,
    "inception",
    "auto",
    "eval fid: Inception variant (auto: from the weight file's classifier size)",
    enum_values=["auto", "fid", "imagenet"],
)


def _emit(result: dict, lines: list[str]) -> None:
    for ln in lines:
        print(ln)
    if common.JSON.value:
        print(json.dumps(result, sort_keys=True))


# ------------------------------------------------------------------------------------ fid


def _inception(weights_path):
    from facejax.metrics import inception

    variant = INCEPTION.value
    if variant == "auto":
        variant = inception.detect_variant(weights_path)
    return variant, inception.load_params(weights_path, variant, "--weights")


def _folder_stats(folder, what, variant, extractor, mesh):
    import numpy as np

    from facejax.metrics import fid, inception, preprocess

    paths = preprocess.list_images(folder, what)
    pre = EVAL_RESIZE.value
    if pre < 0:
        raise FacejaxError(f"--eval_resize={pre}: expected a size > 0, or 0 for none")
    batch = fid.padded_batch_size(EVAL_BATCH.value, mesh)

    def load(idx):
        imgs = [preprocess.inception_image(preprocess.load_uint8(paths[i if i >= 0 else 0]), variant, pre) for i in idx]
        if len({im.shape for im in imgs}) > 1:  # mixed sizes: each to 299 as the network would
            imgs = [_resize299(im) for im in imgs]
        return np.stack(imgs)

    return fid.stats_of(len(paths), load, extractor, batch, inception.FEATURE_DIM), len(paths)


_RESIZE = []


def _resize299(img):
    """pytorch-fid's F.interpolate(size=299, bilinear) of one [0, 1] image."""
    import jax
    import numpy as np

    from facejax.nn.layers import resize_bilinear

    if not _RESIZE:
        _RESIZE.append(jax.jit(lambda x: resize_bilinear(x, 299)))
    return np.asarray(_RESIZE[0](img[None])[0])


def _stats(arg, what, variant, extractor, mesh):
    """(RunningStats or (mu, sigma) from a pytorch-fid .npz, number of images or None)."""
    from facejax.metrics import fid

    if arg and arg.endswith(".npz"):
        return fid.load_stats(arg), None
    return _folder_stats(arg, what, variant, extractor, mesh)


def cmd_fid(stats_only: bool = False) -> None:
    from facejax.metrics import fid, inception
    from facejax.train import mesh as mesh_lib

    weights = common.require(WEIGHTS, "weights")
    a = common.require(A, "a")
    b = None if stats_only else common.require(B, "b")
    out = common.require(common.OUT, "out") if stats_only else None
    if FID_METHOD.value not in fid.METHODS:
        raise FacejaxError(f"--fid_method={FID_METHOD.value!r}: expected one of {', '.join(fid.METHODS)}")
    variant, params = _inception(weights)
    mesh = mesh_lib.make_mesh()
    extractor = fid.Extractor(lambda p, x: inception.features(p, x, variant), params, mesh)
    info = {
        "inception": variant,
        "weights": os.path.basename(weights),
        "eval_resize": EVAL_RESIZE.value,
        "fid_method": FID_METHOD.value,
    }
    if stats_only:
        s, n = _folder_stats(a, "--a", variant, extractor, mesh)
        fid.save_stats(out, s.mu, s.sigma)
        _emit({**info, "stats": out, "n": n}, [f"statistics of {n} images ({variant} Inception): {out}"])
        return
    s1, n1 = _stats(a, "--a", variant, extractor, mesh)
    s2, n2 = _stats(b, "--b", variant, extractor, mesh)
    if n1 is not None and n2 is not None:
        value = fid.fid_from_stats(s1, s2, FID_METHOD.value)
    else:
        (mu1, sg1), (mu2, sg2) = [(s.mu, s.sigma) if n is not None else s for s, n in ((s1, n1), (s2, n2))]
        value = fid.frechet_distance(mu1, sg1, mu2, sg2, method=FID_METHOD.value)
    _emit(
        {**info, "fid": value, "a": {"path": a, "n": n1}, "b": {"path": b, "n": n2}},
        [
            f"FID: {value}",
            f"({variant} Inception, {os.path.basename(weights)}; --a {n1 or 'stats'}, --b {n2 or 'stats'} images)",
        ],
    )


# ------------------------------------------------------------------------------------ lpips


def _pairs(a, b):
    from facejax.metrics import preprocess

    pa = {os.path.basename(p): p for p in preprocess.list_images(a, "--a")}
    pb = {os.path.basename(p): p for p in preprocess.list_images(b, "--b")}
    only_a, only_b = sorted(set(pa) - set(pb)), sorted(set(pb) - set(pa))
    if only_a or only_b:
        raise FacejaxError(
            f"eval lpips pairs images by file name, but {len(only_a)} image(s) of --a have no namesake in --b "
            f"({', '.join(only_a[:3])}) and {len(only_b)} of --b none in --a ({', '.join(only_b[:3])})"
        )
    return [(pa[k], pb[k]) for k in sorted(pa)]


def cmd_lpips() -> None:
    import numpy as np

    from facejax.metrics import fid, lpips, preprocess
    from facejax.train import mesh as mesh_lib

    weights = common.require(WEIGHTS, "weights")
    a, b = common.require(A, "a"), common.require(B, "b")
    pairs = _pairs(a, b)
    params = lpips.load_params(weights, LPIPS_LIN.value or "", alexnet_field="--weights", lin_field="--lpips_lin")
    mesh = mesh_lib.make_mesh()
    extractor = fid.Extractor(lambda p, x: lpips.distance(p, x[:, 0], x[:, 1]), params, mesh)
    batch = fid.padded_batch_size(EVAL_BATCH.value, mesh)

    def load(idx):
        out = []
        for i in idx:
            pa, pb = pairs[i if i >= 0 else 0]
            x0, x1 = preprocess.load_uint8(pa), preprocess.load_uint8(pb)
            if x0.shape != x1.shape:
                raise FacejaxError(
                    f"LPIPS compares images of the same size: {pa} is {x0.shape[1]}x{x0.shape[0]}, "
                    f"{pb} is {x1.shape[1]}x{x1.shape[0]}"
                )
            out.append(np.stack([preprocess.lpips_image(x0), preprocess.lpips_image(x1)]))
        if len({o.shape for o in out}) > 1:
            raise FacejaxError(
                "eval lpips batches images of one size; the folders mix sizes "
                f"({sorted({o.shape[1:3] for o in out})}); use --eval_batch_size=1"
            )
        return np.stack(out)

    values = []
    for idx, valid in fid.process_slices(len(pairs), batch):
        values.append(extractor(load(idx))[:valid])
    values = np.concatenate(values).astype(np.float64)
    mean = float(values.mean())
    _emit(
        {"lpips": mean, "pairs": len(pairs), "std": float(values.std()), "weights": os.path.basename(weights)},
        [f"LPIPS: {mean}", f"(AlexNet v0.1, mean over {len(pairs)} pairs)"],
    )


# ------------------------------------------------------------------------------------ protocol


def cmd_protocol(config) -> None:
    from facejax.families import base
    from facejax.train import trainer

    if config is None:
        raise FacejaxError(
            "facejax eval without a metric word runs the family's protocol: it needs "
            "--config=configs/<family>.py:PRESET and --workdir=RUN (or use `eval fid` / `eval lpips`)"
        )
    workdir = common.require(common.WORKDIR, "workdir")
    run = trainer.Run(config, workdir)
    base.require(run.family, base.Evaluates)
    ck = run.checkpointer
    which = EVAL_CHECKPOINT.value
    if which == "latest":
        step = ck.latest_step()
    elif which == "best":
        step = ck.best_step()
        if step is None:
            raise FacejaxError(
                f"{ck.directory} has no checkpoint with evaluation metrics "
                f"({run.config.eval.best_metric}); train with --config.eval_every or use "
                f"--eval_checkpoint=latest"
            )
    else:
        try:
            step = int(which)
        except ValueError:
            raise FacejaxError(f"--eval_checkpoint={which!r}: expected latest, best or a step number") from None
        if step not in ck.manager.all_steps():
            raise FacejaxError(f"{ck.directory} has no checkpoint {step} (it has {sorted(ck.manager.all_steps())})")
    if step is None:
        raise FacejaxError(
            f"{workdir} has no checkpoint (expected {ck.directory}/<step>/); train first or point --workdir at a run"
        )
    ck.check_fits(step, config.to_dict(), run.family.architecture_fields)
    state = ck.restore(step, run.abstract_state)
    evaluator = run.family.evaluator(run.mesh)
    out_dir = os.path.join(workdir, "eval", f"{step:06d}")
    res = evaluator(state, step, out_dir)
    lines = [res["table"], ""] + [f"{k}: {v}" for k, v in res["files"].items() if k != "grids"]
    lines += [f"grid: {g}" for g in res["files"].get("grids", [])]
    _emit({**res["report"], "files": res["files"]}, lines)


def main(config, args):
    words = list(args)
    if not words:
        return cmd_protocol(config)
    if len(words) > 1 or words[0] not in ("fid", "fid_stats", "lpips"):
        raise FacejaxError(
            f"facejax eval {' '.join(words)}: expected `eval fid`, `eval fid_stats`, `eval lpips`, "
            f"or no word with --config/--workdir for the family's protocol"
        )
    if words[0] == "lpips":
        return cmd_lpips()
    return cmd_fid(stats_only=words[0] == "fid_stats")

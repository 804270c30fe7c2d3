"""IPM-Net learns on synthetic_faces: after a short training, transferring a reference's makeup (its style code,
level 0) onto a non-makeup face moves the eye-shadow and lip colours toward the made-up domain, the output's colours
follow *which* reference it is given (each region is closer to its own reference's colour than to the other
references', with a within-source regression slope on the reference's colour many standard errors above 0), and
the pixels outside the makeup mask stay close to the source (they reach the output through r_x and the final
convolution).

Setup: the synthetic preset at small widths (gen dim 8, style 16, mlp 64, 1 residual block; D dim 8; identity
ResNet width 4), lr 2e-3, batch 8 on the random-pair stream, 400 steps. Every one of 16 held-out non-makeup faces
of the test split is made up with every one of 16 made-up test faces (RGB in [-1, 1]; eye shadow = skin pixels in
the 3 rows above each eye; lips = labels 7 + 9, ~9.5 pixels a face at 32 px) at steps 250, 275, ..., 400, and the
measures are averaged over those 7 checkpoints (GAN training oscillates: the lips' slope went 0.07 ... 0.35 from
one checkpoint to the next). "Slope": regressing each output's region colour on its reference's, within each source
(pooled over sources, channels and checkpoints); 0 = the output ignores which reference it is given.

Measured per XLA:CPU instruction set (tests/isa_matrix.sh on an AMD EPYC with AVX2; deterministic per ISA; the test
prints them), before -> after (the t statistics were added after the native and SSE4_2 runs):
                          native (AVX2)    SSE4_2           AVX
  eye shadow slope        -0.006 -> 0.464  -0.006 -> 0.488  -0.006 -> 0.452 (t 62.7)
    own / other refs      0.350 / 0.441    0.334 / 0.436    0.353 / 0.441
    projection            1.003            1.007            1.036
  lips slope              -0.009 -> 0.213  -0.009 -> 0.232  -0.009 -> 0.176 (t 15.5)
    own / other refs      0.745 / 0.791    0.686 / 0.739    0.708 / 0.743
  outside the mask        0.711 -> 0.115   0.711 -> 0.117   0.711 -> 0.116
AVX-512 and AMX could not be measured here (an --xla_cpu_max_isa cap above the processor's own changes nothing).
Why this design: the earlier test measured one (source, reference) pairing at 250 steps and asserted the lips'
distance to their reference below the source's; it failed on an AVX-512 Xeon (lips 0.522 to the reference, 0.506 to
the source) and passed narrowly here (0.665 / 0.710). Over this run's checkpoints the single-pairing lip distance to
the reference and to the source stayed about equal under every ISA (0.62-0.66 vs 0.59-0.67): at 32 px the lips take
the made-up domain's colour and only partly the given reference's, which the slope measures with many pairs.
Tried on AVX, neither helped the lips: style 32 / mlp 128 (slope 0.01-0.30 at 250-400 steps), the identity net's
BatchNorm frozen and a fixed texture draw (0.05-0.15).
Time (2 cores): ~3 min including compilation.
"""

import jax
import numpy as np
import pytest

from facejax import configs
from facejax.train import mesh as mesh_lib
from facejax.train import trainer

STEPS = 400
CHECKS = tuple(range(250, 401, 25))  # the measures are averaged over these checkpoints (GAN training oscillates)
SMALL = {
    "model.gen.dim": 8,
    "model.gen.mlp_dim": 64,
    "model.gen.style_dim": 16,
    "model.gen.n_res": 1,
    "model.dis.dim": 8,
    "identity.width": 4,
    "lr": 2e-3,
    "sample_every": 0,
    "checkpoint_every": 100_000,
}


def shadow_colour(images, parsing):
    out = []
    for img, p in zip(images, parsing):
        ys, xs = np.nonzero(np.isin(p, (4, 5)))
        box = np.zeros(p.shape, bool)
        box[max(ys.min() - 3, 0) : ys.min(), xs.min() : xs.max() + 1] = True
        m = box & (p == 1)
        out.append(img[m].mean(axis=0))
    return np.stack(out)


def lip_colour(images, parsing):
    return np.stack([img[np.isin(p, (7, 9))].mean(axis=0) for img, p in zip(images, parsing)])


def projection(out, src, ref):
    """Mean over faces of how far (out - src) goes along (ref - src): 0 = the source's colour, 1 = the reference's."""
    d, e = out - src, ref - src
    return float(np.mean(np.sum(d * e, axis=1) / np.sum(e * e, axis=1)))


def dist(a, b):
    return float(np.mean(np.linalg.norm(a - b, axis=1)))


def reads_the_reference(out, ref):
    """out, ref: (..., source, k, 3) region colours of source i made up with reference k, and of reference k (leading
    axes: e.g. checkpoints). Returns (slope, t, own, other): the pooled within-source regression slope of the output's
    colour on the reference's (0 = the output ignores which reference it was given, 1 = it copies the reference's
    colour) and its t statistic, the mean distance of each output to its own reference's colour, and to the other
    references' colours."""
    o, r = out - out.mean(axis=-2, keepdims=True), ref - ref.mean(axis=-2, keepdims=True)
    slope = float(np.sum(o * r) / np.sum(r * r))
    resid = o - slope * r
    se = np.sqrt(np.sum(resid * resid) / (resid.size - 1) / np.sum(r * r))
    own = float(np.mean(np.linalg.norm(out - ref, axis=-1)))
    k = ref.shape[-2]
    other = float(np.mean([np.linalg.norm(out - np.roll(ref, j, axis=-2), axis=-1).mean() for j in range(1, k)]))
    return slope, float(slope / se), own, other


@pytest.mark.slow
@pytest.mark.learning
def test_makeup_colours_move_to_the_reference_and_the_rest_stays(synthetic_tfds, tmp_path):
    cfg = configs.load("ipmnet:synthetic", **{**SMALL, "data.data_dir": synthetic_tfds})
    run = trainer.Run(cfg, str(tmp_path / "run"))
    fam = run.family
    plain, made = fam.eval_faces(16)
    x, ex, ref = plain["x"], plain["extra"], made["x"]
    n = len(x)
    gen = jax.jit(lambda g, x, e, y: fam.makeup(g, x, e[..., :1], e[..., 1:], y, 0.0, 0.5))
    keep = ex[..., 0] > 0.5
    regions = {"eye shadow": shadow_colour, "lips": lip_colour}
    src = {k: f(x, plain["parsing"]) for k, f in regions.items()}
    tgt = {k: f(ref, made["parsing"]) for k, f in regions.items()}

    def measure(g):
        """Every source made up with every reference (shift k pairs source i with reference i + k)."""
        outs = np.stack([np.asarray(gen(g, x, ex, np.roll(ref, -k, axis=0))) for k in range(n)], axis=1)
        m = {"outside": float(np.mean([np.abs(o[k] - s[k]).mean() for o, s, k in zip(outs[:, 0], x, keep)]))}
        for name, f in regions.items():
            c = np.stack([f(outs[:, k], plain["parsing"]) for k in range(n)], axis=1)  # (source, k, 3)
            r = np.stack([np.roll(tgt[name], -k, axis=0) for k in range(n)], axis=1)
            slope, t, own, other = reads_the_reference(c, r)
            m[name] = dict(
                ref=dist(c[:, 0], tgt[name]),
                src=dist(c[:, 0], src[name]),
                proj=projection(c[:, 0], src[name], tgt[name]),
                slope=slope,
                t=t,
                own=own,
                other=other,
                colours=c,
                refs=r,
            )
        return m

    state = run.restore_or_init()
    before = measure(state.params["G"])
    it = iter(fam.train_dataset(cfg.batch_size, 0, 1))
    checks = []
    for step in range(1, STEPS + 1):
        batch = mesh_lib.global_batch(jax.tree.map(lambda t: t._numpy(), next(it)), run.mesh)
        state, metrics = run.step_fn(state, batch)
        jax.block_until_ready(metrics)  # one step in flight at a time, as the trainer runs on CPU (trainer.train)
        if step in CHECKS:
            checks.append(measure(state.params["G"]))
    run.checkpointer.close()
    after = {"outside": float(np.mean([c["outside"] for c in checks]))}
    for name in regions:
        after[name] = {k: float(np.mean([c[name][k] for c in checks])) for k in ("ref", "src", "proj")}
        # the reference's effect over every checkpoint's outputs together (the checkpoints' own means removed)
        slope, t, own, other = reads_the_reference(
            np.stack([c[name]["colours"] for c in checks]), np.stack([c[name]["refs"] for c in checks])
        )
        after[name].update(slope=slope, t=t, own=own, other=other)
        b, a = before[name], after[name]
        per_check = ", ".join(f"{c[name]['slope']:.3f}" for c in checks)
        print(
            f"learning: {name}, mean of steps {CHECKS}: to its reference {b['ref']:.3f} -> {a['ref']:.3f}, to the "
            f"source {b['src']:.3f} -> {a['src']:.3f}, projection {a['proj']:.3f} (source-reference "
            f"{dist(src[name], tgt[name]):.3f}); over all {n}x{n} (source, reference) pairs: slope on the "
            f"reference's colour {b['slope']:.3f} -> {a['slope']:.3f}, t {b['t']:.1f} -> {a['t']:.1f} (per check "
            f"{per_check}), to its own reference "
            f"{a['own']:.3f}, to the others {a['other']:.3f}"
        )
    print(f"learning: outside the mask {before['outside']:.3f} -> {after['outside']:.3f}")
    shadow, lips = after["eye shadow"], after["lips"]
    # generic makeup: the colours move toward the made-up domain, away from the source
    assert shadow["proj"] > 0.5 and shadow["ref"] < shadow["src"]
    assert after["outside"] < 0.25 and after["outside"] < 0.5 * before["outside"]
    # the reference's own colours: a model that ignores which reference it is given has slope 0 and own == other
    assert shadow["slope"] > 0.2 and shadow["t"] > 6 and shadow["own"] < 0.9 * shadow["other"], (
        "the eye shadow ignores the reference"
    )
    # the lips (~9.5 pixels a face) follow more weakly: a smaller slope, but many times its standard error
    assert lips["slope"] > 0.08 and lips["t"] > 4 and lips["own"] < lips["other"], "the lips ignore the reference"

"""StarGAN v2 (Choi et al., CVPR 2020) presets.

    facejax train --config=configs/stargan_v2.py:synthetic --workdir=runs/sg2
    facejax train --config=configs/stargan_v2.py:afhq --config.data.train_dir=data/afhq/train --workdir=runs/afhq
    facejax params --config=configs/stargan_v2.py:celeba_hq

Presets:
  celeba_hq  the paper's CelebA-HQ setting (256 px, 2 domains, w_hpf=1, lambda_ds=1).
  afhq       the paper's AFHQ setting (256 px, 3 domains, w_hpf=0, lambda_ds=2).
  synthetic  small widths at 32 px on the embedded `synthetic_faces` dataset: trains in CPU minutes.
  A .. F     the paper's Table 1 ablation on CelebA-HQ (F is the full model); append `,synthetic`
             (e.g. `stargan_v2.py:C,synthetic`) to run one at synthetic scale.

Every value the paper or an ablation varies is a field here; anything derived from them (the
lambda_ds schedule, the default widths 2**14 // img_size) is computed at run time, so overriding
`img_size`, `total_steps` or `batch_size` on the command line never leaves a stale value behind.
"""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config

# The paper's Table 1 rows. Each entry switches the architecture and losses named in
# shared/reference/stargan_v2.md section 5.2 (fields of `model` or top-level fields); F is StarGAN
# v2 itself. A and B train as StarGAN v1 did: cycle weight lambda_rec = 10, Adam without weight decay
# (and, with WGAN-GP, n_critic 5 and betas (0.5, 0.999): see _ablation).
ABLATIONS = {
    "A": dict(
        generator="stargan_v1",
        discriminator="acgan",
        adv_loss="wgan_gp",
        style="label",
        lambda_ds=0.0,
        lambda_sty=0.0,
        lambda_cyc=10.0,
        weight_decay=0.0,
    ),
    "B": dict(
        generator="stargan_v1",
        discriminator="multitask",
        adv_loss="wgan_gp",
        style="label",
        lambda_ds=0.0,
        lambda_sty=0.0,
        lambda_cyc=10.0,
        weight_decay=0.0,
    ),
    "C": dict(
        generator="stargan_v2",
        discriminator="multitask",
        adv_loss="nonsaturating",
        style="label",
        lambda_ds=0.0,
        lambda_sty=0.0,
    ),
    "D": dict(
        generator="stargan_v2", discriminator="multitask", adv_loss="nonsaturating", style="latent", lambda_ds=0.0
    ),
    "E": dict(
        generator="stargan_v2", discriminator="multitask", adv_loss="nonsaturating", style="style", lambda_ds=0.0
    ),
    "F": dict(generator="stargan_v2", discriminator="multitask", adv_loss="nonsaturating", style="style"),
}


# One line per preset and Table 1 row (`facejax presets`); a row joins a preset as `C,synthetic`.
PRESETS = {
    "celeba_hq": "the paper's CelebA-HQ setting: 256 px, 2 domains, w_hpf=1 (FAN), lambda_ds=1, 100k steps",
    "afhq": "the paper's AFHQ setting: 256 px, 3 domains, w_hpf=0, lambda_ds=2, 100k steps",
    "synthetic": "32 px, small widths, 500 steps on synthetic_faces/gender_32: CPU minutes",
    "A": "Table 1 row A: StarGAN v1 generator, ACGAN discriminator, WGAN-GP, label styles (on celeba_hq)",
    "B": "Table 1 row B: row A with the multi-task discriminator",
    "C": "Table 1 row C: StarGAN v2 generator (AdaIN), non-saturating loss, label styles",
    "D": "Table 1 row D: row C with raw latent codes as styles",
    "E": "Table 1 row E: row D with the mapping network and style encoder",
    "F": "Table 1 row F: StarGAN v2 with diversity sensitive loss (the full model)",
}


def _base():
    c = trainer_config.defaults(
        "stargan_v2",
        seed=777,
        img_size=256,
        batch_size=8,
        total_steps=100_000,
        log_every=10,
        sample_every=5000,
        checkpoint_every=10_000,
    )
    # data: the shared fields (facejax/train/config.py); "folder" reads the original's <dir>/<domain>/<image>.
    c.data.config = "gender_32"
    c.data.randcrop_prob = 0.5

    c.model = ConfigDict()
    c.model.num_domains = 2
    c.model.latent_dim = 16
    c.model.style_dim = 64
    c.model.hidden_dim = 512  # mapping network width (hard-coded 512 in the original)
    c.model.w_hpf = 1.0
    c.model.dim_in = 0  # 0: the original's 2**14 // img_size
    c.model.max_conv_dim = 512
    # Table 1 switches (defaults = StarGAN v2, row F).
    c.model.generator = "stargan_v2"  # or "stargan_v1"
    c.model.discriminator = "multitask"  # or "acgan"
    c.model.style = "style"  # "style" (mapping net + style encoder), "latent" (raw z), "label" (one-hot)
    c.model.v1_conv_dim = 64  # StarGAN v1 widths (rows A, B)
    c.model.v1_repeat_num = 6
    # FAN (w_hpf > 0 only): the frozen landmark network whose heatmaps mask the generator's high-pass skips.
    # fan_weights: the StarGAN v2 release's wing.ckpt (download.sh puts it in expr/checkpoints/), read when a
    # run starts from scratch; an imported or resumed checkpoint carries FAN itself.
    c.fan_weights = ""
    c.model.fan_img_size = 256  # FAN's input resolution; 256 in the original (smaller: fast tests only)
    c.model.fan_width = 64  # FAN's first width (blocks 64/128/256); 64 in the original (smaller: tests only)

    c.adv_loss = "nonsaturating"  # or "wgan_gp"
    c.lambda_reg = 1.0  # R1 (nonsaturating) / gradient penalty weight is lambda_gp
    c.lambda_gp = 10.0
    c.lambda_cls = 1.0  # ACGAN classification (rows A)
    c.lambda_sty = 1.0
    c.lambda_ds = 1.0
    c.lambda_cyc = 1.0
    c.ds_iter = 100_000  # lambda_ds decays linearly to 0 over this many steps
    c.n_critic = 1  # discriminator updates per generator update (WGAN-GP rows use 5)

    c.lr = 1e-4
    c.f_lr = 1e-6
    c.beta1 = 0.0
    c.beta2 = 0.99
    c.weight_decay = 1e-4
    c.ema_decay = 0.999

    # Evaluation (facejax/families/stargan_v2/evaluate.py): the original's protocol every eval_every
    # steps during training (0 = off, the default; the original uses 50000) and in `facejax eval`. Off by
    # default because the weight files must be downloaded by hand (README "Evaluation").
    c.eval = ConfigDict()
    # "imagenet": torchvision's ImageNet Inception v3 as StarGAN v2's own evaluation (the paper's
    # numbers); "fid": pytorch-fid's TF-FID Inception (the standard FID new work should report).
    c.eval.inception = "imagenet"
    c.eval.inception_weights = ""  # inception_v3_google-0cc3c7bd.pth or pt_inception-2015-12-05-6726825d.pth
    c.eval.alexnet_weights = ""  # alexnet-owt-7be5be79.pth (LPIPS trunk)
    c.eval.lpips_lin_weights = ""  # "" = weights/v0.1/alex.pth of the installed lpips package
    # "sqrtm": pytorch-fid's scipy.linalg.sqrtm (a minute per FID at 2048-d on a small CPU);
    # "eigh": the same trace from symmetric eigendecompositions (equal to 1e-6, seconds).
    c.eval.fid_method = "sqrtm"
    c.eval.num_outs_per_domain = 10
    c.eval.batch_size = 32  # the original's val_batch_size; rounded up to a multiple of the devices
    c.eval.max_sources = 0  # source images per domain from the eval split; 0 = all (the protocol)
    c.eval.max_real = 0  # real images per target domain from the train split; 0 = all (the protocol)
    c.eval.grid_sources = 8  # sources shown in each task's sample grid
    c.eval.save_images = False  # also write every generated image as PNG (the original does)
    c.eval.best_metric = "FID_latent/mean"  # the checkpoint manager also keeps the best (lowest) one
    return c


def _celeba_hq(c):
    c.data.source = "folder"
    c.data.name = "celeba_hq"
    c.model.num_domains = 2
    c.model.w_hpf = 1.0
    c.lambda_ds = 1.0
    return c


def _afhq(c):
    c.data.source = "folder"
    c.data.name = "afhq"
    c.model.num_domains = 3
    c.model.w_hpf = 0.0
    c.lambda_ds = 2.0
    return c


def _synthetic(c):
    c.img_size = 32
    c.batch_size = 8
    c.total_steps = 500
    c.data.source = "tfds"
    c.data.name = "synthetic_faces"
    c.data.config = "gender_32"
    c.model.num_domains = 2
    c.model.w_hpf = 0.0
    c.model.dim_in = 16
    c.model.max_conv_dim = 64
    c.model.hidden_dim = 64
    c.model.style_dim = 32
    c.model.v1_conv_dim = 16
    c.model.v1_repeat_num = 2
    # A model this small learns in CPU minutes with a larger step than the paper's 1e-4 at 256 px.
    c.lr = 3e-4
    c.f_lr = 3e-6
    c.ds_iter = 500
    # The paper's EMA of 0.999 averages over ~1000 steps: after a 500-step run the EMA generator would
    # still be 0.999**500 = 61% its initial weights. 0.99 (a 100-step horizon) fits a run this short.
    c.ema_decay = 0.99
    c.log_every = 25
    c.sample_every = 250
    c.checkpoint_every = 250
    return c


def _ablation(c, row):
    for key, value in ABLATIONS[row].items():
        (c.model if key in c.model else c)[key] = value
    if c.adv_loss == "wgan_gp":
        c.n_critic = 5
        c.beta1, c.beta2 = 0.5, 0.999
    return c


def get_config(preset="synthetic"):
    rows = {row: (lambda c, row=row: _ablation(c, row)) for row in ABLATIONS}
    return trainer_config.select(
        preset,
        {"celeba_hq": _celeba_hq, "afhq": _afhq, "synthetic": _synthetic},
        base=_base,
        file="configs/stargan_v2.py",
        modifiers=rows,
        modifier_base="celeba_hq",
        descriptions=PRESETS,
    )

"""Beholder-GAN (Diamant et al., arXiv 1902.02593) presets: the beauty predictors and the beauty-conditioned
progressive GAN, following beholdergan/Beholder-GAN (completion_beauty.md part C).

    # 1. the rater predictors on SCUT-FBP5500 (one VGG-16-BN with one output per rater)
    facejax prepare scut_fbp5500 --manual_dir=SCUT-FBP5500_v2
    facejax train --config=configs/beholder.py:scut_fbp5500 \
        --config.imagenet_weights=vgg16_bn-6c64b313.pth --workdir=runs/predictor
    facejax eval --config=configs/beholder.py:scut_fbp5500 --workdir=runs/predictor --eval_checkpoint=best
    # 2. label CelebA-HQ with them (the semi-supervised step): a TFDS dataset beauty_labels/celeba_hq_128
    facejax prepare celeba_hq --manual_dir=celeba_hq
    facejax prepare beauty_labels --config=configs/beholder.py:scut_fbp5500 --workdir=runs/predictor \
        --source=celeba_hq/256 --out=celeba_hq_128 [--data_dir=DIR]
    # 3. the GAN on the labelled faces, then samples, beautification and the paper's metrics
    facejax train --config=configs/beholder.py:celeba_hq --workdir=runs/beholder
    facejax sample --config=configs/beholder.py:celeba_hq --workdir=runs/beholder --out=out \
        [--src=faces/ --config.beautify.face_weights=vgg_face_dag.pth]
    facejax eval --config=configs/beholder.py:celeba_hq --workdir=runs/beholder
    facejax export --config=configs/beholder.py:celeba_hq --workdir=runs/beholder --out=torch/

Presets:
  scut_fbp5500         the predictor as train_beauty_prediction.py: torchvision VGG-16-BN from ImageNet (needs
                       --config.imagenet_weights), Linear(4096, 60), MSE to ratings / 5, Adam 1e-4, batch 32,
                       10 epochs of the SCUT 60% train split (the released 350 px images), flip + resize 224 +
                       rotation 10; the best held-out MSE is kept and labels (family beholder_predictor).
  celeba_hq            the GAN as the original trains it (preset-v2-2gpus, PGGAN G_paper / D_paper with the
                       beauty conditioning): 4 -> 128 px, 600k images stable + 600k fading per resolution,
                       WGAN-GP, Adam (0, 0.99) lr 1e-3, G EMA 0.999, 12M images, on beauty_labels (the CelebA-HQ
                       faces labelled by the predictor). facejax's batch is fixed per run: 16, the original's
                       minibatch at 128 px (see family.py on why the batch does not change with the resolution).
  scut_gan             the same GAN on SCUT-FBP5500's human ratings (the original config's default dataset).
  synthetic            a tiny GAN on synthetic_faces (8 raters): 4 -> 16 px, small widths, 256 images per phase.
  predictor_synthetic  a tiny predictor on synthetic_faces/gender_32 (8 raters), from scratch.
"""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config

SYNTHETIC_DATA = "gender_32"


def _common(family: str, **fields):
    c = trainer_config.defaults(family, seed=0, log_every=100, sample_every=5000, checkpoint_every=5000, **fields)
    c.data.name = "synthetic_faces"
    c.data.config = SYNTHETIC_DATA
    c.data.scores_feature = "scores"  # per-rater ratings on the 1..5 scale; beta = scores / score_scale
    c.data.score_scale = 5.0
    return c


# --------------------------------------------------------------------------------------------- the GAN


def _gan():
    c = _common(
        "beholder", img_size=128, batch_size=16, total_steps=12_000 * 1000 // 16
    )  # total_kimg 12000 at batch 16
    c.num_raters = 60  # label_size: the length of beta
    c.data.name = "beauty_labels"
    c.data.config = "celeba_hq_128"
    c.data.train_split = "train"
    c.data.eval_split = "train"  # CelebA-HQ has no held-out split in the original's training
    c.data.mirror_augment = True

    # PGGAN G_paper / D_paper (networks.py): nf(stage) = min(fmap_base / 2^(stage * fmap_decay), fmap_max)
    c.model = ConfigDict()
    c.model.fmap_base = 8192
    c.model.fmap_decay = 1.0
    c.model.fmap_max = 512
    c.model.latent_size = 0  # 0 = nf(0), the original's default (512)
    c.model.normalize_latents = True  # pixel norm over concat(z, beta)
    c.model.mbstd_group_size = 4
    c.model.label_groups = 4  # D: beta split into groups of raters, their means written into a 4th channel

    # The schedule (train.py TrainingSchedule), in thousands of real images shown.
    c.schedule = ConfigDict()
    c.schedule.initial_resolution = 4
    c.schedule.training_kimg = 600.0
    c.schedule.transition_kimg = 600.0
    c.schedule.minibatch_repeats = 4  # the level of detail is recomputed every 4 minibatches, as the original
    c.schedule.reset_optimizer = True  # reset_opt_for_new_lod

    c.lr = 0.001
    c.lr_overrides = ConfigDict({"512": 0.0015, "1024": 0.002})  # G_lrate_dict = D_lrate_dict
    c.beta1 = 0.0
    c.beta2 = 0.99
    c.adam_eps = 1e-8
    c.ema_decay = 0.999  # G_smoothing
    c.wgan_lambda = 10.0
    c.wgan_epsilon = 0.001
    c.wgan_target = 1.0
    # The gradient penalty's norm as the original's: D reads full-size images (reals and fakes upscaled by
    # 2^(R - level)), so the penalised gradient is the full-size mix's, whose norm is the phase-size norm /
    # 2^(R - level). False: the phase-size norm (facejax before issue 26: a lambda 2^(R - level) times larger at
    # the low resolutions, 32x at 4 px in a 128 px run).
    c.gp_full_resolution = True
    # PGGAN's AC-GAN label penalty on D's 1 + num_raters outputs. Beholder-GAN comments it out, so the beauty
    # conditioning comes from the input injection alone: "" (the original). "softmax_ce": PGGAN's term as written
    # (softmax cross-entropy with beta as the labels); "mse": a regression of beta (for continuous labels).
    c.label_penalty = ""
    # False: the paper's comparison row "PGGAN" (completion_beauty.md C.7): G and D read zeros in place of beta, so
    # nothing of the beauty scores reaches the networks (the ablation `pggan`).
    c.conditioning = True
    c.cond_weight = 1.0
    # With a label penalty: True (PGGAN) = D's label outputs learn beta on the reals and on the fakes; False = on
    # the reals only, so D cannot learn to read whatever G's images do with beta as beauty (test_learning.py).
    c.label_penalty_fakes = True

    # Sampling (inference_cond.py): beauty level i draws beta ~ N(level_i, level_std) clipped to [0, 1].
    c.sample = ConfigDict()
    c.sample.levels = (0.2, 0.4, 0.6, 0.8, 1.0)
    c.sample.level_std = 0.08
    c.sample.total_agreement = False  # beta = level exactly (--total_agreement)
    c.sample.seed = 1

    # Beautification by latent recovery (tfutil.reverse_gan_for_etalons, beautify_image.py).
    c.beautify = ConfigDict()
    c.beautify.iters = 100_000
    c.beautify.lr = 0.1
    c.beautify.alpha = 0.7  # pixel MSE weight; 1 - alpha on the face features
    c.beautify.lr_drop_iter = 1000  # lr / lr_drop_factor there
    c.beautify.lr_drop_factor = 5.0
    c.beautify.lr_halve_every = 20_000
    c.beautify.chunk = 50  # iterations per jitted call
    # The original checks its loss (for the kept best point) and its lr schedule at multiples of 50 iterations;
    # 1 = at every iteration (a best point of any iteration).
    c.beautify.check_every = 50
    c.beautify.z_seed = 800
    c.beautify.beta_resample_fix = False  # the original resamples out-of-range beta in U(-1, 1); True: U(0, 1)
    c.beautify.deltas = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
    c.beautify.face_weights = ""  # VGG-Face (vgg_face_dag.pth); required when alpha < 1
    c.beautify.face_size = 224
    # How faces reach VGG-Face: "original" = beautify_image.py's [-1, 1] pixels straight into the graph, resized by
    # TF1's legacy bilinear (align_corners=False, no half-pixel centres); "vgg_face" = the network's own input
    # ([0, 255] minus its mean, half-pixel bilinear), which weighs the feature term ~1.6e4 times more.
    c.beautify.face_input = "original"
    # How `sample --src` faces are resized to img_size: "antialias" = PIL's ANTIALIAS (Lanczos), as
    # beautify_image.py; "bilinear" = PIL's bilinear.
    c.beautify.resize_filter = "antialias"
    c.beautify.batch_size = 8  # faces recovered together (split over the devices)

    # Evaluation (evaluate.py): PGGAN's SWD per level and MS-SSIM (the paper's table), and FID.
    c.eval = ConfigDict()
    c.eval.num_images = 10_000  # FID's fakes and reals
    c.eval.batch_size = 64
    c.eval.swd = True
    c.eval.swd_images = 16_384  # PGGAN's swd-16k
    c.eval.ms_ssim = True
    c.eval.ms_ssim_images = 20_000  # PGGAN's msssim-20k: 10,000 consecutive pairs of fakes
    c.eval.mirror_reals = True  # reals mirrored (p 1/2) when data.mirror_augment, as evaluate_metrics; False: never
    c.eval.fid = True
    c.eval.inception = "fid"
    c.eval.inception_weights = ""  # pt_inception-2015-12-05-6726825d.pth
    c.eval.fid_method = "sqrtm"
    c.eval.seed = 123
    c.eval.best_metric = ""
    return c


def _scut_gan(c):
    c.data.name = "scut_fbp5500"
    c.data.config = "256"
    c.data.eval_split = "test"
    return c


def _synthetic(c):
    c.img_size = 16
    c.num_raters = 8
    c.batch_size = 16
    c.total_steps = 240
    c.data.name = "synthetic_faces"
    c.data.config = SYNTHETIC_DATA
    c.data.eval_split = "test"
    c.model.fmap_base = 128
    c.model.fmap_max = 32
    c.model.latent_size = 64  # z : beta = 64 : 8, the original's 512 : 60 (see test_learning.py)
    c.schedule.training_kimg = 0.256
    c.schedule.transition_kimg = 0.256
    c.lr = 0.001  # the original's (2e-3 and 3e-3 learned the beauty order less reliably; test_learning.py)
    c.ema_decay = 0.99
    c.log_every = 20
    c.sample_every = 0
    c.checkpoint_every = 100
    c.beautify.iters = 200
    c.beautify.lr_drop_iter = 100
    c.beautify.lr_halve_every = 100
    c.beautify.face_size = 224
    c.eval.num_images = 128
    c.eval.batch_size = 32
    c.eval.swd_images = 128
    c.eval.ms_ssim_images = 128
    c.eval.fid = False
    return c


# --------------------------------------------------------------------------------------------- the predictors


def _predictor():
    c = _common(
        "beholder_predictor", batch_size=32, total_steps=10 * 3300 // 32
    )  # 10 epochs of the 60% train split (3,300 faces)
    c.num_raters = 60
    c.data.name = "scut_fbp5500"
    c.data.config = "original"  # the released 350 px images, as train_beauty_prediction.py reads them
    c.data.flip = True
    c.data.rotation = 10.0  # RandomRotation(10): degrees, nearest, black fill

    # torchvision vgg16_bn: features (cfg "D" with BatchNorm), AdaptiveAvgPool2d(pool_size), classifier.
    c.model = ConfigDict()
    c.model.input_size = 224
    c.model.widths = [64, 128, 256, 512, 512]
    c.model.hidden = 4096
    c.model.pool_size = 7
    c.model.dropout = 0.5
    c.model.bn_momentum = 0.1
    c.imagenet_init = True  # start from torchvision's ImageNet VGG-16-BN (the original: pretrained=True)
    c.imagenet_weights = ""  # vgg16_bn-6c64b313.pth
    c.lr = 1e-4
    c.beta1 = 0.9
    c.beta2 = 0.999

    c.log_every = 20
    c.sample_every = 0
    c.checkpoint_every = 103
    c.eval_every = 103  # once per epoch: the held-out MSE decides the kept (best) checkpoint
    c.eval = ConfigDict()
    c.eval.batch_size = 64
    c.eval.max_images = 0  # 0 = the whole eval split
    c.eval.best_metric = "mse"

    # facejax prepare beauty_labels: how faces are fed to the predictor (execute_beauty_prediction.py)
    c.label = ConfigDict()
    c.label.batch_size = 64
    c.label.pad_x = 0
    c.label.pad_y = 0
    # Which predictor checkpoint labels: "best" = the lowest held-out eval.best_metric (the original keeps the
    # best-validation VGG16_beauty_rates.pt); falls back to the newest when the run has no evaluated checkpoint.
    # "latest": the newest.
    c.label.checkpoint = "best"
    return c


def _predictor_synthetic(c):
    c.num_raters = 8
    c.batch_size = 32
    c.total_steps = 150
    c.data.name = "synthetic_faces"
    c.data.config = SYNTHETIC_DATA
    c.model.input_size = 32
    c.model.widths = [16, 16, 32, 32, 32]
    c.model.hidden = 64
    c.model.pool_size = 1
    c.model.dropout = 0.0
    c.imagenet_init = False
    c.lr = 2e-3
    c.log_every = 25
    c.checkpoint_every = 50
    c.eval_every = 0
    return c


# Ablation: the paper's table compares Beholder-GAN with an unconditioned PGGAN (SWD per level and MS-SSIM,
# completion_beauty.md C.7); `pggan` is that row (combined with a preset: `pggan,synthetic`; alone it applies to
# celeba_hq). The original's code has no other switch (its AC-GAN label penalty is commented out: label_penalty).
def _pggan(c):
    c.conditioning = False
    return c


ABLATIONS = {"beholder": lambda c: c, "pggan": _pggan}

PRESETS = {
    "beholder": "ablation row 'beholder': the beauty-conditioned GAN (the preset as it is)",
    "pggan": "ablation row 'PGGAN': the same GAN unconditioned (G and D read no beauty scores)",
    "celeba_hq": "the beauty-conditioned progressive GAN, 4 -> 128 px on CelebA-HQ labelled by the predictor",
    "scut_gan": "the same GAN on SCUT-FBP5500's human ratings",
    "synthetic": "a tiny GAN, 4 -> 16 px on synthetic_faces (8 raters): CPU minutes",
    "scut_fbp5500": "the rater predictor: VGG-16-BN from ImageNet on SCUT-FBP5500",
    "predictor_synthetic": "a tiny predictor on synthetic_faces/gender_32, from scratch",
}


def get_config(preset="synthetic"):
    presets = {
        "celeba_hq": lambda c: _gan(),
        "scut_gan": lambda c: _scut_gan(_gan()),
        "synthetic": lambda c: _synthetic(_gan()),
        "scut_fbp5500": lambda c: _predictor(),
        "predictor_synthetic": lambda c: _predictor_synthetic(_predictor()),
    }
    # two bases (the GAN's and the predictors'): each preset builds its own, select's base is unused
    return trainer_config.select(
        preset,
        presets,
        base=lambda: None,
        file="configs/beholder.py",
        modifiers=ABLATIONS,
        modifier_base="celeba_hq",
        descriptions=PRESETS,
    )

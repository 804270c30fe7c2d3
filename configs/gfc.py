"""Generative Face Completion (Li et al., CVPR 2017) presets, following Yijunmaverick/GenerativeFaceCompletion
(Caffe + MatCaffe; shared/reference/completion_beauty.md part A).

    facejax prepare helen --manual_dir=SmithCVPR2013_dataset_resized
    facejax train --config=configs/gfc.py:parsing --workdir=runs/gfc_parsing
    facejax prepare celeba --manual_dir=CelebA
    facejax train --config=configs/gfc.py:celeba --config.parsing_checkpoint=runs/gfc_parsing --workdir=runs/gfc
    facejax sample --config=configs/gfc.py:celeba --workdir=runs/gfc --src=faces/ --mask=eyes --out=out/
    facejax eval --config=configs/gfc.py:celeba --workdir=runs/gfc --config.eval.inception_weights=pt_inception-...

    facejax train --config=configs/gfc.py:synthetic --workdir=runs/s    # trains runs/s/prereq/parsing first

Presets:
  celeba             the original at 128 px on CelebA's gfc_128 crop (TFDS celeba/gfc_128): batch 2 = one image
                     and its mirror image with the mask at the same place, 64x64 noise-filled squares, the code's
                     loss weights (300, 300, 0.05) and Adams, in the paper's three stages (stages.*: iteration
                     counts were not published; facejax's choice, see below). Stage 3 reads the frozen parsing
                     network from config.parsing_checkpoint (a facejax run of the `parsing` preset).
  parsing            the face-parsing network (11 Helen classes) on helen/128, trained by the same trainer
                     (family gfc_parsing). The original released only frozen weights; its recipe is facejax's.
  synthetic          32 px on the embedded synthetic_faces (gender_32), small widths, a 16x16 local patch, no
                     random affine (the renders are aligned): trains in CPU minutes. Adversarial weights scaled by
                     (32/128)^2 with the pixel count of the summed L1 (see `_synthetic`).
  parsing_synthetic  the parsing network at 32 px on synthetic_faces, its MT labels 0-13 mapped onto the 11
                     classes (ears -> skin, neck -> background).
"""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config

# Named masks: (top, left, height, width) as fractions of the image side. "left"/"right" are the image's sides.
# celeba: from CelebA's mean aligned landmarks mapped through the gfc_128 crop (eyes near y 0.51, x 0.28 / 0.57,
# mouth near y 0.81, x 0.43). The paper's six masks O1-O6 cover key parts; their exact geometry was not published
# in the sources read, so these are facejax's.
CELEBA_MASKS = {
    "center": "0.25,0.25,0.5,0.5",
    "left_eye": "0.39,0.158,0.25,0.25",
    "right_eye": "0.39,0.441,0.25,0.25",
    "eyes": "0.39,0.158,0.25,0.533",
    "mouth": "0.715,0.243,0.19,0.375",
    "left_half": "0.3,0.1,0.6,0.325",
    "right_half": "0.3,0.425,0.6,0.325",
    "lower_half": "0.6,0.15,0.35,0.55",
}
# synthetic_faces: measured on its renders (eyes at y 0.45, x 0.40 / 0.59; mouth at y 0.67, x 0.49; face x 0.26-0.72).
SYNTHETIC_MASKS = {
    "center": "0.25,0.25,0.5,0.5",
    "left_eye": "0.325,0.275,0.25,0.25",
    "right_eye": "0.325,0.465,0.25,0.25",
    "eyes": "0.325,0.275,0.25,0.44",
    "mouth": "0.575,0.335,0.19,0.31",
    "left_half": "0.25,0.25,0.53,0.25",
    "right_half": "0.25,0.49,0.53,0.25",
    "lower_half": "0.53,0.25,0.27,0.5",
}


def _base():
    c = trainer_config.defaults(
        "gfc",
        seed=0,
        img_size=128,
        batch_size=2,  # GFC_Init.m: an image and its flip
        total_steps=300_000,
        log_every=100,
        sample_every=5000,
        checkpoint_every=5000,
    )
    c.data.name = "celeba"
    c.data.config = "gfc_128"
    c.data.flip_pairs = True  # each image followed by its mirror image, the mask at the same place (the original)
    c.data.augment = True  # random shift (+-S/20 px) and rotation (+-5 deg), fill level 127 (GFC_Gen_training_*.m)
    c.data.max_shift = 0.05  # fraction of the side: floor(S * (U - 0.5) / 10)
    c.data.max_rotation = 5.0  # degrees: (U - 0.5) * 10
    c.data.minmax = True  # training: per-image min-max normalisation to [-1, 1] (the original), else x / 127.5 - 1
    # eval, sample grids and `facejax sample`: demo_face128.m's im2single(img) * 2 - 1, i.e. x / 127.5 - 1 without
    # min-max (the original). True: the per-image min-max of training at test time too.
    c.data.test_minmax = False
    # A test photo not at img_size (`facejax sample --src`, Model.translate): "torch7" prepares it as crop_celebA.lua
    # does (a 178x218 aligned CelebA photo cropped to its box, then Lua Torch's image.scale, 8 bits); "tf": facejax's
    # earlier antialiased bilinear. docs/gfc.md.
    c.data.test_resize = "torch7"
    c.data.flip = True  # parsing family: random mirror with left/right labels swapped
    c.data.label_map = ""  # parsing family: "a,b,..." maps the dataset's label i to class a_i ("" = as stored)

    c.model = ConfigDict()
    c.model.g = ConfigDict()
    c.model.g.widths = "32,64,128,256"  # encoder stages: the new stage 0, then VGG-19 conv1 .. conv3
    c.model.g.dec_width = 64
    c.model.g.fc_dim = 4096
    c.model.d = ConfigDict()
    c.model.d.local_base = 64  # Model_localD: 64, 128, 256, 512
    c.model.d.global_base = 32  # Model_globalD: 32, 64, 128, 256, 512
    c.model.d.max_width = 512
    c.model.parsing = ConfigDict()
    c.model.parsing.widths = "64,128,256,512,512"  # VGG-19 blocks
    c.model.parsing.last_width = 32
    c.model.parsing.num_classes = 11
    c.model.parsing.dropout = 0.5

    c.mask = ConfigDict()
    c.mask.size = 64  # the square hole (and the local discriminator's input)
    c.mask.g_offset = 1  # G update: top/left uniformly in [g_offset, g_offset + S - size - 1] (the original's 2..65)
    c.mask.d_offset = 4  # D update: [d_offset, d_offset + S - size - d_margin - 1] (the original's 5..58)
    c.mask.d_margin = 10
    c.mask.noise = True  # fill the hole with U(-1, 1) noise (the original); False: zeros
    c.masks = ConfigDict(CELEBA_MASKS)

    # The paper's stages (section 3.5): 1 reconstruction only (no discriminator runs), 2 + local adversarial,
    # 3 + global adversarial and parsing loss. Stage 1 is steps 1..recon_end, stage 2 up to local_end, then 3.
    # Iteration counts are not published (the author: "stop when converged"); the released script starts from a
    # reconstruction-only model and runs stage 3 (recon_end = local_end = 0).
    c.stages = ConfigDict()
    c.stages.recon_end = 100_000
    c.stages.local_end = 150_000

    c.lambda_local = 300.0  # gradstack.m
    c.lambda_global = 300.0
    c.lambda_parsing = 0.05
    c.l1_eps = 1e-12  # GFC_L1_loss.m: sum(sqrt(d^2 + eps^2)) / B over the whole image
    c.bce_eps = 1e-12  # GFC_BCE_loss*.m: -log(p + eps)
    # The original adds the global D's input gradient to G's output over the whole image, context pixels
    # (which the global D saw as ground truth) included; False: plain autodiff through the composite.
    c.global_grad_full_image = True
    # The original builds the parsing net as a caffe.Solver (TRAIN phase): dropout 0.5 is on for the pseudo-labels
    # and for the loss. False: eval mode.
    c.parsing_dropout = True
    c.parsing_checkpoint = ""  # a facejax workdir (or its checkpoints/<step>) of the gfc_parsing family
    c.vgg19_weights = ""  # optional: torchvision's vgg19-dcbb9e9d.pth to initialise the VGG-19 convs

    c.lr = 1e-4  # Model_G_solver: Adam (0.9, 0.999)
    c.beta1 = 0.9
    c.beta2 = 0.999
    c.d_lr = 2e-4  # Model_*D_solver: Adam (0.5, 0.999)
    c.d_beta1 = 0.5
    c.d_beta2 = 0.999
    # demo_GFC_training.m never advances the D solvers' iteration counter (only G's gets set_iter), so Caffe's Adam
    # keeps the t = 1 bias correction sqrt(1 - beta2) / (1 - beta1) = 0.063 for the whole run (the original, about
    # 16x smaller D steps). False: standard Adam (optax.adam, t advancing). Same optimizer state either way.
    c.d_adam_frozen_t1 = True
    # GFC_Gen_input_of_D1.m: with mirror pairs the D batch is the first image of each pair only (one fake, one
    # real). False: every image of the batch (both mirror images) goes to the discriminators.
    c.d_first_of_pair = True

    c.sample = ConfigDict()
    c.sample.mask_type = "center"  # the trainer's grids and `facejax sample` without --mask

    c.eval = ConfigDict()
    c.eval.mask_types = "center,left_half,right_half,eyes,left_eye,right_eye,mouth,lower_half"
    c.eval.max_images = 0  # eval-split faces used (0 = all)
    c.eval.batch_size = 16
    c.eval.parsing_score = True  # needs the parsing network (config.parsing_checkpoint)
    c.eval.fid = True
    c.eval.inception = "fid"
    c.eval.inception_weights = ""  # pt_inception-2015-12-05-6726825d.pth
    c.eval.fid_method = "sqrtm"
    c.eval.save_images = False
    c.eval.best_metric = ""
    return c


def _synthetic(c):
    c.img_size = 32
    c.batch_size = 8
    c.total_steps = 600
    c.data.name = "synthetic_faces"
    c.data.config = "gender_32"
    # The renders are aligned already; with the original's random affine (for photos) 1000 steps leave G near the
    # mean face (hole L1 center / eyes / mouth 0.36 / 0.34 / 0.29, the mean face 0.37 / 0.36 / 0.35); without it
    # 0.30 / 0.29 / 0.26 (tests/families/gfc/test_learning.py).
    c.data.augment = False
    c.model.g.widths = "8,16,32,32"
    c.model.g.dec_width = 16
    c.model.g.fc_dim = 64
    c.model.d.local_base = 8
    c.model.d.global_base = 8
    c.model.d.max_width = 64
    c.model.parsing.widths = "8,16,16,32,32"
    c.model.parsing.last_width = 8
    c.mask.size = 16  # 64 at 128 px, scaled
    c.mask.d_offset = 1
    c.mask.d_margin = 2
    c.masks = ConfigDict(SYNTHETIC_MASKS)
    c.stages.recon_end = 300
    c.stages.local_end = 450
    # The L1 term is summed over 32*32*3 pixels instead of 128*128*3: the adversarial weights shrink by the same
    # factor 16 so that the balance of the terms is the original's (the parsing CE is summed over pixels too).
    c.lambda_local = c.lambda_global = 300.0 / 16
    c.lr = 1e-3  # a model this small learns in CPU minutes with a larger step
    c.d_lr = 5e-4
    c.log_every = 50
    c.sample_every = 300
    c.checkpoint_every = 300
    c.num_sample_images = 6
    # one command trains everything: the parsing_synthetic run into <workdir>/prereq/parsing, then this one
    c.prerequisites.train = True
    return c


def _parsing(c):
    c.family = "gfc_parsing"
    c.batch_size = 8
    c.total_steps = 30_000
    c.data.name = "helen"
    c.data.config = "128"
    c.data.eval_split = "test"
    c.lr = 1e-4  # facejax's recipe: Adam, pixel-mean softmax cross-entropy (Caffe's SoftmaxWithLoss)
    c.beta1 = 0.9
    c.beta2 = 0.999
    c.log_every = 100
    c.sample_every = 5000
    c.checkpoint_every = 5000
    return c


def _parsing_synthetic(c):
    c = _parsing(_synthetic(c))
    c.family = "gfc_parsing"
    c.batch_size = 8
    c.total_steps = 300
    c.data.name = "synthetic_faces"
    c.data.config = "gender_32"
    c.data.label_map = "0,1,2,3,4,5,6,7,8,9,10,1,1,0"  # MT ids: ears (11, 12) -> skin, neck (13) -> background
    c.lr = 2e-3
    c.log_every = 50
    c.sample_every = 300
    c.checkpoint_every = 300
    c.prerequisites.train = False
    return c


# The paper's ablation (section 4, PSNR / SSIM per mask; completion_beauty.md A.7), rows combined with a preset
# (`M1,synthetic`; alone they apply to celeba). Each switches a loss term off by its weight; a discriminator whose
# term is off is not trained, and the stages stop at the last one with a term on (GFC.phase).
def _m1(c):
    c.lambda_local = c.lambda_global = c.lambda_parsing = 0.0
    return c


def _m2(c):
    c.lambda_global = c.lambda_parsing = 0.0
    return c


def _m3(c):
    c.lambda_parsing = 0.0
    return c


ABLATIONS = {"M1": _m1, "M2": _m2, "M3": _m3, "full": lambda c: c}

PRESETS = {
    "M1": "ablation M1: the reconstruction loss only (no discriminator, no parsing loss)",
    "M2": "ablation M2: + the local adversarial loss (local D)",
    "M3": "ablation M3: + the global adversarial loss (global D), no parsing loss",
    "full": "ablation row 'full': + the parsing loss (the preset as it is)",
    "celeba": "the original at 128 px on CelebA (celeba/gfc_128), three stages; needs a parsing run",
    "parsing": "the face-parsing network (11 Helen classes) on helen/128",
    "synthetic": "32 px, small widths on synthetic_faces/gender_32; trains its parsing_synthetic run first",
    "parsing_synthetic": "the parsing network at 32 px on synthetic_faces' maps",
}


def get_config(preset="synthetic"):
    presets = {
        "celeba": lambda c: c,
        "synthetic": _synthetic,
        "parsing": _parsing,
        "parsing_synthetic": _parsing_synthetic,
    }
    return trainer_config.select(
        preset,
        presets,
        base=_base,
        file="configs/gfc.py",
        modifiers=ABLATIONS,
        modifier_base="celeba",
        descriptions=PRESETS,
    )

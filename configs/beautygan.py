"""BeautyGAN (Li et al., ACM MM 2018) presets, following wtjiang98/BeautyGAN_pytorch (makeup.md section 3).

    facejax train --config=configs/beautygan.py:synthetic --workdir=runs/bg
    facejax prepare mt_makeup --manual_dir=makeup_dataset/all
    facejax train --config=configs/beautygan.py:mt --config.vgg_weights=vgg_conv.pth --workdir=runs/mt
    facejax params --config=configs/beautygan.py:mt

Presets:
  mt         the original's settings on the MT dataset (TFDS mt_makeup/256): 256 px, batch 1, Adam 2e-4
             (0.5, 0.999), 300 epochs of max(#A, #B) random pairs (2,469 makeup train images with the drawn
             split), every loss at the original's weight, VGG-19 relu4_1 perceptual term fed [-1, 1] as the
             reference's net.VGG (needs --config.vgg_weights: the bethgelab vgg_conv.pth, which facejax does not
             download; config.vgg="vgg16" with torchvision's vgg16-397923af.pth is the paper's VGG-16).
  synthetic  small widths at 32 px on the embedded synthetic_faces (gender_32: faces with and without makeup,
             MT-style parsing maps): trains in CPU minutes. Its perceptual weight is 0 because it runs without a
             VGG file; give one with --config.vgg_weights=... --config.lambda_vgg=5e-3 to train with it.
"""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config


def _base():
    # batch 1: the original's histogram loss only works at batch 1; facejax's works per example
    c = trainer_config.defaults(
        "beautygan",
        seed=0,
        img_size=256,
        batch_size=1,
        total_steps=300 * 2469,
        sample_every=2469,
        checkpoint_every=2469,
        num_sample_images=6,
    )
    # Iterations per epoch of the original (max(#non-makeup, #makeup) train images: 2,469 makeup faces with
    # mt_makeup's drawn split). Only names exported snapshots <epoch>_<iter>_G.pth; 0 = tag 1_<step>.
    c.steps_per_epoch = 2469
    c.data.name = "mt_makeup"
    c.data.config = "256"
    c.data.flip = False  # the original has no augmentation (flips relabel MT's left/right parts when on)
    c.data.randcrop_prob = 0.0
    c.data.prefetch_to_device = 2
    # "random" (the original's MAKEUP dataset): every iteration draws its source and its reference with
    # random.randint, with replacement on both sides; "epochs": every source once per epoch in a fresh order
    # (facejax's earlier reading), the reference drawn with replacement.
    c.data.pairing = "random"

    c.model = ConfigDict()
    c.model.g_conv_dim = 64
    c.model.g_repeat_num = 6
    c.model.d_conv_dim = 64
    c.model.d_repeat_num = 3

    # The original's snapshot names: D_<cls_A> (D_A, judges makeup faces), D_<cls_B> (D_B, non-makeup faces).
    c.cls_list = "SYMIX,MAKEMIX"

    c.lr = 2e-4  # G (train.py --LR overrides config.py's 2e-5)
    c.d_lr = 2e-4  # each D
    c.beta1 = 0.5
    c.beta2 = 0.999
    c.n_critic = 1  # ndis: a G update every n_critic-th iteration
    # "epoch" (the original's (i + 1) % ndis with i the iteration within the epoch; epochs of steps_per_epoch
    # iterations, the global step when steps_per_epoch is 0) or "global" ((step + 1) % n_critic).
    c.n_critic_count = "epoch"

    c.lambda_rec = 10.0  # lambda_A = lambda_B (cycle, identity and perceptual terms are scaled by it)
    c.lambda_idt = 0.5
    c.lambda_vgg = 5e-3
    c.lambda_his = 1.0  # lips
    c.lambda_skin_1 = 0.1  # x lambda_his: skin of fake_A (makeup applied)
    c.lambda_skin_2 = 0.1  # x lambda_his: skin of fake_B (makeup removed)
    c.lambda_eye = 1.0  # x lambda_his: each eye's shadow
    c.lips = True
    c.skin = True
    c.eye = True
    c.eye_margin = 10  # pixels the eye box grows by (at 256 px)
    # "slice" (the original's rebound_box: PyTorch slicing, so a box starting above or left of the image is empty
    # and the eye's mask stays the eye itself) or "clip" (the box clipped at the edge; facejax's earlier reading).
    c.eye_box = "slice"
    # The perceptual network: "vgg19" (the reference's net.VGG, the bethgelab vgg_conv.pth, or torchvision's
    # vgg19-dcbb9e9d.pth which holds the same convs) or "vgg16" (torchvision's vgg16-397923af.pth: the paper's
    # VGG-16, thaoshibe's fork). Either is fed G's [-1, 1] RGB as it is, as the reference does.
    c.vgg = "vgg19"
    c.vgg_weights = ""  # the file of config.vgg (needed when lambda_vgg > 0; facejax does not download it)
    c.vgg_layer = "relu4_1"  # the reference's r41 and the paper's layer; "conv4_1" is thaoshibe's features[:18]
    # Saved sample PNGs (facejax sample --src/--ref): False = (x + 1) / 2 clamped; True = the reference's test()
    # save_image(de_norm(x), normalize=True): clamped to [0, 1], then each image min-max stretched.
    c.save_minmax = False

    # Evaluation (facejax/families/beautygan/evaluate.py): IPM-Net's protocol (makeup.md 2.8), every
    # eval_every steps (0 = off, the default) and in `facejax eval`. Weight files are downloaded by hand (README).
    c.eval = ConfigDict()
    c.eval.runs = 10  # "the average of 10 runs", each with new random references
    c.eval.inception = "fid"  # TTUR's TF Inception (pytorch-fid's port), as the paper
    c.eval.inception_weights = ""  # pt_inception-2015-12-05-6726825d.pth
    c.eval.alexnet_weights = ""  # alexnet-owt-7be5be79.pth (LPIPS trunk)
    c.eval.lpips_lin_weights = ""  # "" = weights/v0.1/alex.pth of the installed lpips package
    c.eval.fid_method = "sqrtm"
    c.eval.batch_size = 16
    c.eval.max_sources = 0  # non-makeup eval faces transferred; 0 = all (the protocol)
    c.eval.max_references = 0  # makeup eval faces used as references and FID reals; 0 = all
    c.eval.grid_sources = 8
    c.eval.save_images = False
    c.eval.best_metric = "FID/mean"
    return c


def _synthetic(c):
    c.img_size = 32
    c.batch_size = 8
    c.total_steps = 400
    c.steps_per_epoch = 0
    c.data.name = "synthetic_faces"
    c.data.config = "gender_32"
    c.model.g_conv_dim = 16
    c.model.g_repeat_num = 2
    c.model.d_conv_dim = 16
    c.model.d_repeat_num = 2
    c.lambda_vgg = 0.0  # no VGG file in the CPU preset; see the module docstring
    c.eye_margin = 2  # 10 px at 256 scaled to 32 px, rounded up so the shadow ring is never empty
    c.lr = c.d_lr = 5e-4  # a model this small learns in CPU minutes with a larger step
    c.log_every = 25
    c.sample_every = 200
    c.checkpoint_every = 200
    c.num_sample_images = 6
    c.eval.batch_size = 16
    return c


# Ablations: the original's train.py switches each histogram ("makeup") loss off with its flag (--lips, --eye,
# --skin; all True by default; makeup.md 3.5), the paper's L_lips, L_shadow and L_face. Rows are combined with a
# preset (`no_lips,synthetic`; alone they apply to mt). The paper's own ablation figures were not in the sources
# read, so these are the code's switches; a switched-off term is not computed (family.py his_weights), and without
# the eye term the iterations whose maps lack an eye are trained too (the original skips them only for that term).
ABLATIONS = {
    "full": lambda c: c,
    "no_lips": lambda c: _switch(c, lips=False),
    "no_shadow": lambda c: _switch(c, eye=False),
    "no_face": lambda c: _switch(c, skin=False),
    "no_makeup": lambda c: _switch(c, lips=False, eye=False, skin=False),
}


def _switch(c, **flags):
    for k, v in flags.items():
        c[k] = v
    return c


PRESETS = {
    "full": "ablation row 'full': every loss on (the preset as it is)",
    "no_lips": "ablation: without the lips histogram loss (the original's --lips False)",
    "no_shadow": "ablation: without the eye-shadow histogram loss (--eye False)",
    "no_face": "ablation: without the face (skin) histogram loss (--skin False)",
    "no_makeup": "ablation: without any histogram (makeup) loss",
    "mt": "the original on MT (mt_makeup/256): 256 px, batch 1, Adam 2e-4, 300 epochs, VGG-19 relu4_1 perceptual loss",
    "synthetic": "32 px, small widths on synthetic_faces/gender_32 (no VGG term): CPU minutes",
}


def get_config(preset="synthetic"):
    return trainer_config.select(
        preset,
        {"mt": lambda c: c, "synthetic": _synthetic},
        base=_base,
        file="configs/beautygan.py",
        modifiers=ABLATIONS,
        modifier_base="mt",
        descriptions=PRESETS,
    )

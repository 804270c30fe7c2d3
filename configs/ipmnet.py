"""IPM-Net (Huang et al., IJCAI 2020) presets, following huangzhikun1995/IPM-Net (makeup.md section 2).

    facejax train --config=configs/ipmnet.py:synthetic --workdir=runs/ipm
    facejax prepare mt_makeup/original --manual_dir=makeup_dataset/all
    facejax train --config=configs/ipmnet.py:mt --workdir=runs/ipm_mt
    facejax params --config=configs/ipmnet.py:mt

Presets:
  mt         the original's configs/config.yaml on MT (TFDS mt_makeup/original: 361 px images, 321 px parsing
             maps): Resize(321) -> CenterCrop(256) -> random flip, the same (makeup, non-makeup) pairs every epoch
             (zipped in file-name order), batch 1, Adam (0.5, 0.999) lr 2e-4 weight decay 1e-4, x0.5 every 100k,
             1M iterations, every loss at the original's weight, and the original's bugs (random identity ResNet
             with BatchNorm in train mode from iteration 500, doubled generator Adam step, random texture scale).
  synthetic  32 px, small widths, a small identity ResNet, random pairs on synthetic_faces/gender_32: CPU minutes.
"""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config


def _base():
    c = trainer_config.defaults(
        "ipmnet",
        seed=0,
        img_size=256,
        batch_size=1,
        total_steps=1_000_000,
        log_every=100,
        sample_every=10_000,
        checkpoint_every=10_000,
        num_sample_images=6,
    )
    c.data.name = "mt_makeup"
    c.data.config = "original"
    c.data.load_size = 321  # Resize(321), then CenterCrop(img_size); masks and textures computed at 321
    # Masks and textures not at load_size (sample --src, Model.translate): "bilinear" (test.py's mask_transform,
    # PIL's bilinear Resize on the 8-bit maps: soft edges kept) or "nearest" (facejax's earlier reading, the mask
    # rounded to 0/1).
    c.data.map_filter = "bilinear"
    c.data.flip = True  # RandomHorizontalFlip, the same for an image, its mask and texture
    c.data.pairing = "zip"  # the original's unshuffled, zipped loaders; "random": random pairs

    c.model = ConfigDict()
    c.model.gen = ConfigDict(
        dict(dim=64, mlp_dim=256, style_dim=128, n_downsample=2, n_res=4, activ="relu", pad_type="reflect")
    )
    c.model.dis = ConfigDict(dict(dim=64, n_layer=4, num_scales=3, activ="lrelu", pad_type="reflect"))

    # The identity ("vgg") network: VGGFace2's Caffe-style ResNet-50. The original never loads its weights
    # (makeup.md 2.2), so pretrained=False reproduces it; True reads `weights` (resnet50_ft_weight.pkl).
    c.identity = ConfigDict()
    c.identity.pretrained = False
    c.identity.weights = ""
    c.identity.width = 64
    c.identity.layers = "3,4,6,3"  # Bottlenecks per stage
    # BatchNorm mode: the original's trainer.sample() leaves it in train mode from the first image display on
    # (iteration 500); -1 = always eval (frozen, the intent); 0 = always train.
    c.identity.bn_train_from_step = 500

    c.lr = 2e-4
    c.beta1 = 0.5
    c.beta2 = 0.999
    c.weight_decay = 1e-4
    c.lr_step = 100_000
    c.lr_gamma = 0.5
    c.adam_double_step = True  # gen_a + gen_b (one module) in the Adam list: two steps per iteration

    c.gan_w = 1.0
    c.recon_x_w = 20.0
    c.recon_s_w = 1.0
    c.recon_c_w = 1.0
    c.recon_x_cyc_w = 10.0
    c.vgg_w = 5.0  # identity loss on the ResNet features
    c.back_w = 1.0
    c.fore_w = 20.0
    c.gp_w = 0.01  # the gradient penalty on real images, per scale
    # r_x = mask * x - texture * 2 * (0.8 + 0.4 u): u ~ U(0, 1) in every encode call (the original), else texture_u
    c.texture_random = True
    c.texture_u = 0.5

    c.sample = ConfigDict()
    c.sample.level = 0.0  # test.py's `level`: 0 = the reference's full makeup, 1 = none
    c.sample.alphas = "0,0.25,0.5,0.75,1"  # the makeup-level sweep of `facejax sample`
    c.sample.normalize = "minmax"  # test.py saves make_grid(normalize=True, scale_each=True); "clip" = [-1, 1]
    c.sample.texture_u = 0.5  # the texture draw at sampling (the original draws it at random): scale 2.0

    c.eval = ConfigDict()
    c.eval.runs = 10
    c.eval.inception = "fid"
    c.eval.inception_weights = ""
    c.eval.alexnet_weights = ""
    c.eval.lpips_lin_weights = ""
    c.eval.fid_method = "sqrtm"
    c.eval.batch_size = 16
    c.eval.max_sources = 0
    c.eval.max_references = 0
    c.eval.grid_sources = 8
    c.eval.save_images = False
    c.eval.best_metric = "FID/mean"
    c.eval.texture_u = 0.5
    return c


def _synthetic(c):
    c.img_size = 32
    c.batch_size = 8
    c.total_steps = 600
    c.data.name = "synthetic_faces"
    c.data.config = "gender_32"
    c.data.load_size = 32
    c.data.pairing = "random"
    c.data.flip = False
    c.model.gen.update(dict(dim=16, mlp_dim=64, style_dim=16, n_res=2))
    c.model.dis.update(dict(dim=16, n_layer=2))
    c.identity.width = 8
    c.identity.layers = "1,1,1,1"
    c.identity.bn_train_from_step = 200
    c.lr = 1e-3
    c.lr_step = 100_000
    c.log_every = 50
    c.sample_every = 200
    c.checkpoint_every = 200
    return c


# Ablations: none. The sources read (makeup.md part 2: the paper's Table 2 and the released code) record no
# ablation of IPM-Net's loss terms and no switch in the code that turns one off, so no ablation preset is added.
PRESETS = {
    "mt": "the original's config.yaml on MT (mt_makeup/original): 256 px crops, batch 1, 1M iterations",
    "synthetic": "32 px, small widths and identity ResNet, random pairs on synthetic_faces/gender_32: CPU minutes",
}


def get_config(preset="synthetic"):
    return trainer_config.select(
        preset, {"mt": lambda c: c, "synthetic": _synthetic}, base=_base, file="configs/ipmnet.py", descriptions=PRESETS
    )

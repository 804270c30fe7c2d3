"""AesGAN (Yan, Lin, Tan, Zhou, CVPR 2020) presets, following AliceQLin/AesGAN (completion_beauty.md B.3-B.9).

AesGAN is three networks trained one after the other, each a family of its own driven by the shared trainer.
`facejax train --config=configs/aesgan.py:synthetic --workdir=W` trains all three (W/prereq/aesthetic, W/prereq/parsing,
then W; config.prerequisites); on real data, one run after another:

    facejax train --config=configs/aesgan.py:aesthetic --workdir=runs/eyenet     # eye aesthetics (high / low)
    facejax eval  --config=configs/aesgan.py:aesthetic --workdir=runs/eyenet     # held-out accuracy
    facejax train --config=configs/aesgan.py:parsing --workdir=runs/parsing      # face parsing (Helen, 11 classes)
    facejax prepare celeb_id --manual_dir=exemplar_gans/data/celeb_id_aligned
    facejax train --config=configs/aesgan.py:celeb_id --config.aesthetic.checkpoint=runs/eyenet \
        --config.parsing.checkpoint=runs/parsing --workdir=runs/aesgan
    facejax sample --config=configs/aesgan.py:celeb_id --workdir=runs/aesgan --out=out [--src=faces --ref=refs]
    facejax eval  --config=configs/aesgan.py:celeb_id --workdir=runs/aesgan     # FID, PSNR, SSIM, MS-SSIM, scores

Presets:
  celeb_id             the original's in-painting run: Celeb-ID at 256 px, batch 4, Adam 1e-4 (0.5, 0.999), 100k
                       iterations with the original's decay after 20k, losses adv + 1 L1 + 0.03 parsing / B + 1
                       aesthetic, ellipse masks 25x15, the fixed 50x90 eye crop at (20, 20), the parsing net's
                       random 128 crop with batch-statistics BatchNorm, and its labels from the original's
                       gt_labels folder (config.parsing.labels_dir; or labels='pseudo')
  synthetic            32 px on synthetic_faces/gender_32, small widths, eye crops centred on the eyes: CPU minutes
  aesthetic            the eye aesthetic network on eye_aesthetics/128 (high / low), 20% held out when the dataset
                       has one split
  aesthetic_synthetic  the same network, small, on synthetic_faces' eye crops: high = both eyes open
                       (eyes_open > synthetic_open_threshold), low = closed, or erased by AesGAN's eye masks
                       (data.masked_as_low of the faces, drawn per step: "missing eyes")
  parsing              the parsing network on Helen (11 classes) at 128 px
  parsing_synthetic    the same network, small, on synthetic_faces' MT-style maps (14 classes) at 32 px

Every network's sub-config (``aesthetic``, ``parsing``) is shared by its own preset and the in-painting presets, so
the in-painting run checks that the checkpoint it reads was trained with the same architecture.
"""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config


def _aesthetic(dim=64, head_dim=1024, input_size=128):
    a = ConfigDict()
    a.dim = dim  # conv_net's gf_dim (64): features (s/4, s/4, 4 dim)
    a.head_dim = head_dim  # facejax's scoring head (not released): GAP -> dense head_dim -> dropout -> 2
    a.keep_prob = 0.75  # eyenet.py's `dropout` (a keep probability)
    a.input_size = input_size  # eye crops are resized to this (128)
    a.checkpoint = ""  # in-painting presets: the workdir of an aesgan_aesthetic run (its newest checkpoint)
    return a


def _parsing(width=64, num_classes=11, crop_size=128):
    p = ConfigDict()
    p.width = width  # model_contour's base width (64; conv14 is 64 * width = 4096 wide)
    p.num_classes = num_classes  # 11 (Helen); 14 for synthetic_faces' MT-style maps
    p.crop_size = crop_size  # the parsing net sees a crop_size crop of the completed image (128 of 256)
    p.checkpoint = ""  # in-painting presets: the workdir of an aesgan_parsing run
    # where the parsing loss's labels come from: "folder" (the original's gt_labels/<stem>.png, labels_dir),
    # "dataset" (the dataset's own parsing feature: synthetic_faces), "pseudo" (argmax of the frozen parsing net on
    # the real image's crop)
    p.labels = "folder"
    p.labels_dir = ""
    # the original crops at random and compares with the whole label map resized to crop_size (spatially
    # inconsistent, completion_beauty.md B.7); True crops the label map at the same place (the intent)
    p.crop_labels = False
    p.random_crop = True  # tf.random_crop of the completed image (False: the centre crop)
    p.bn_train = True  # model_contour's is_training = True: batch statistics even when frozen
    return p


def _base():
    """The trainer's fields (facejax/train/config.py) at the values every AesGAN preset shares; each preset sets
    its family (the in-painting network or one of its two frozen networks) and sizes."""
    return trainer_config.defaults("aesgan", sample_every=400, checkpoint_every=400, num_sample_images=4)


def _inpainting(c):
    c.family = "aesgan"
    c.img_size = 256
    c.batch_size = 4
    c.total_steps = 100_000  # max_iters
    c.data.name = "celeb_id"
    c.data.config = "original"
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.selection_chunk = 4  # identity groups per jitted reference-selection call
    # the original reads images with scipy.misc.imresize on float arrays, which byte-scales each image to its own
    # minimum and maximum (0..255) before the /127.5 - 1: True does the same (training, sampling, evaluation; the
    # reference selection reads raw pixels, as the original's cv2.imread); False: the pixels as decoded
    c.data.bytescale = True

    c.model = ConfigDict(dict(g_dim=64, g_res=6, d_dim=64))
    # D's spectral norm back-propagates through its power iteration as TF's ops.spectral_norm (no stop_gradient);
    # False: the gradient through W / sigma only, u and v constants (PyTorch's spectral_norm, Miyato et al.)
    c.model.sn_power_iteration_grad = True
    c.mask_axes = "25,15"  # ellipse semi-axes (x, y) at 256 px
    # eye masks: "opencv" = the pixels cv2.ellipse fills (the original's get_Mask), "analytic" = pixels whose centre
    # lies in the ellipse (facejax's earlier masks; scale-free, differs from cv2 on the rim)
    c.mask_raster = "opencv"
    c.lr = 1e-4
    c.beta1 = 0.5
    c.beta2 = 0.999
    # lr_mult: 1 until step lr_decay_start, then (total_steps - step) / (total_steps - lr_decay_offset), updated
    # only while the previous value is > lr_decay_floor (so it stops just below the floor)
    c.lr_decay_start = 20_000
    c.lr_decay_offset = 10_000
    c.lr_decay_floor = 0.1
    c.n_critic = 1
    c.lambda_recon = 1.0  # lam_recon
    c.lambda_parsing = 0.03  # 0.03 * label_loss / batch_size
    c.parsing_per_batch = True  # the original divides the (mean) parsing CE by the batch size once more
    c.lambda_aesthetic = 1.0
    # The original's summary op runs D once more per iteration, moving the spectral-norm vectors a third time.
    c.summary_power_iteration = True
    # The aesthetic loss's eye crop: "fixed" = crop_to_bounding_box(20, 20, 50, 90) of the 256 frame (the
    # original's, not centred on the eyes), "eyes" = the same box centred on each image's eyes (the intent).
    c.aes_crop = "fixed"
    c.aes_box = "20,20,50,90"  # top, left, height, width at 256 px
    c.aesthetic = _aesthetic()
    c.parsing = _parsing()

    c.sample = ConfigDict()
    c.sample.reference = "auto"  # facejax sample --src/--ref: "auto" selection among --ref, or "given" (same stem)
    c.sample.eye_centers = "0.47,0.37,0.47,0.63"  # eyes ([y, x] left, right) of faces without an eyes.json entry

    c.eval = ConfigDict()
    # test targets: "last" = each test identity's last image (the original's is_close_id bug), "closed" = every
    # image with opened < 0.60, "all" = every image with both eyes (synthetic_faces' test split)
    c.eval.targets = "last"
    c.eval.references = "same"  # candidates from the eval split ("same") or the train split ("train")
    c.eval.two_references = True  # the original pairs each test target with its best and second-best reference
    # the original keeps the second pair even when the second-best walk returns the best reference again (one usable
    # candidate); True drops that repeated pair
    c.eval.drop_duplicate_reference = False
    c.eval.inception = "fid"
    c.eval.inception_weights = ""  # pt_inception-2015-12-05-6726825d.pth; empty: no FID
    c.eval.fid_method = "sqrtm"
    c.eval.batch_size = 16
    c.eval.max_targets = 0
    c.eval.grid_targets = 8
    c.eval.save_images = False
    c.eval.best_metric = ""
    return c


def _celeb_id(c):
    c.parsing.labels = "folder"
    return c


def _synthetic(c):
    c.img_size = 32
    c.batch_size = 8
    c.total_steps = 400
    c.data.name = "synthetic_faces"
    c.data.config = "gender_32"
    c.data.selection_chunk = 8
    c.model.update(dict(g_dim=16, g_res=2, d_dim=8))
    c.mask_axes = "32,22"  # 4 x 2.75 px at 32 px: the synthetic eyes are about 5 x 4 px
    c.lr = 5e-4
    c.lr_decay_start = 300
    c.lr_decay_offset = 100
    c.aes_crop = "eyes"
    c.aes_box = "20,20,64,128"  # 8 x 16 px at 32 px, centred on the eyes
    c.aesthetic = _aesthetic(dim=4, head_dim=16, input_size=16)
    c.parsing = _parsing(width=4, num_classes=14, crop_size=32)
    c.parsing.labels = "dataset"
    c.eval.targets = "all"
    c.eval.references = "train"
    c.eval.batch_size = 8
    c.eval.max_targets = 32
    c.log_every = 50
    c.sample_every = 200
    c.checkpoint_every = 200
    # one command trains everything: aesthetic_synthetic and parsing_synthetic into <workdir>/prereq/, then this
    c.prerequisites.train = True
    return c


def _aesthetic_family(c, synthetic: bool):
    c.family = "aesgan_aesthetic"
    c.lr = 1e-4
    c.beta1 = 0.9
    c.beta2 = 0.999
    c.lambda_recon = 1.0  # the reconstruction branch's L1 weight
    c.data.train_split = "train"
    # "holdout": a seeded holdout_fraction of the train split (eye_aesthetics as one split); else a split name
    c.data.eval_split = "holdout"
    c.data.holdout_fraction = 0.2
    c.eval = ConfigDict(dict(batch_size=32, best_metric=""))
    if synthetic:
        c.img_size = 32  # the faces' size; crops are taken like the in-painting loss's "eyes" crop
        c.batch_size = 16
        c.total_steps = 300
        c.lr = 1e-3
        c.data.name = "synthetic_faces"
        c.data.config = "gender_32"
        c.data.input = "faces"
        c.data.masked_as_low = 0.25  # a quarter of the faces have their eyes erased (mask_axes) and grade low
        c.mask_axes = "32,22"
        c.synthetic_open_threshold = 0.5
        c.aes_box = "20,20,64,128"
        c.aesthetic = _aesthetic(dim=4, head_dim=16, input_size=16)
    else:
        c.img_size = 128
        c.batch_size = 32
        c.total_steps = 20_000
        c.data.name = "eye_aesthetics"
        c.data.config = "128"
        c.data.input = "crops"
        c.data.masked_as_low = 0.0
        c.mask_axes = "25,15"
        c.synthetic_open_threshold = 0.5
        c.aes_box = "20,20,50,90"
        c.aesthetic = _aesthetic()
    return c


def _parsing_family(c, synthetic: bool):
    c.family = "aesgan_parsing"
    c.lr = 1e-4
    c.beta1 = 0.9
    c.beta2 = 0.999
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.holdout_fraction = 0.2
    c.eval = ConfigDict(dict(batch_size=16, best_metric=""))
    if synthetic:
        c.img_size = 32
        c.batch_size = 8
        c.total_steps = 300
        c.lr = 1e-3
        c.data.name = "synthetic_faces"
        c.data.config = "gender_32"
        c.parsing = _parsing(width=4, num_classes=14, crop_size=32)
    else:
        c.img_size = 128
        c.batch_size = 8
        c.total_steps = 50_000
        c.data.name = "helen"
        c.data.config = "128"
        c.parsing = _parsing()
    return c


_BUILDERS = {
    "celeb_id": lambda c: _celeb_id(_inpainting(c)),
    "synthetic": lambda c: _synthetic(_inpainting(c)),
    "aesthetic": lambda c: _aesthetic_family(c, False),
    "aesthetic_synthetic": lambda c: _aesthetic_family(c, True),
    "parsing": lambda c: _parsing_family(c, False),
    "parsing_synthetic": lambda c: _parsing_family(c, True),
}


# Ablations: none. Only the abstract and introduction of the AesGAN paper were in the sources read
# (completion_beauty.md B.9: its tables were not retrieved) and the released code has no switch that turns a loss
# term off, so no ablation preset is added; lambda_aesthetic=0 or lambda_parsing=0 (which also drops the parsing
# prerequisite) remove a term by hand.
PRESETS = {
    "celeb_id": "the original's eye in-painting on Celeb-ID at 256 px, batch 4, 100k iterations; needs the two below",
    "synthetic": "in-painting at 32 px on synthetic_faces/gender_32, small widths: trains its two frozen nets first",
    "aesthetic": "the eye aesthetic network on eye_aesthetics/128, high / low",
    "aesthetic_synthetic": "the eye aesthetic network, small, on synthetic_faces' eye crops",
    "parsing": "the face-parsing network on Helen (11 classes) at 128 px",
    "parsing_synthetic": "the parsing network, small, at 32 px on synthetic_faces' maps",
}


def get_config(preset="synthetic"):
    return trainer_config.select(preset, _BUILDERS, base=_base, file="configs/aesgan.py", descriptions=PRESETS)

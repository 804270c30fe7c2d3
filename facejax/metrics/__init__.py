"""Evaluation metrics in JAX that give the PyTorch tools' numbers on the same weights.

  inception   Inception v3 pool features: pytorch-fid's TF-FID variant ("fid") and torchvision's
              ImageNet variant ("imagenet", StarGAN v2's own evaluation)
  fid         streaming float64 statistics gathered over devices and hosts; pytorch-fid's Frechet
              distance; pytorch-fid's .npz statistics files
  lpips       LPIPS (AlexNet + the lpips package's v0.1 heads)
  ssim        SSIM, MS-SSIM (pytorch-msssim's definitions), PSNR
  preprocess  image loading/resizing as pytorch-fid, StarGAN v2 and lpips do it
  weights     the weight files (names, where they come from) and a strict state-dict loader

Family protocols live with their family (facejax/families/stargan_v2/evaluate.py).
"""

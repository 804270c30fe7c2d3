"""`celeba_hq` TFDS builder (CelebA-HQ by gender, StarGAN v2 layout): importing this package registers it."""

from .celeba_hq import CelebaHq

__all__ = ["CelebaHq"]

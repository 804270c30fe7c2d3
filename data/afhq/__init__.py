"""`afhq` TFDS builder (Animal Faces-HQ, StarGAN v2 layout): importing this package registers it."""

from .afhq import Afhq

__all__ = ["Afhq"]

"""`celeba` TFDS builder (aligned CelebA with attributes and landmarks): importing this package registers it."""

from .celeba import ATTRIBUTE_NAMES, GFC_BOX, LANDMARK_NAMES, Celeba, CelebaConfig

__all__ = ["ATTRIBUTE_NAMES", "GFC_BOX", "LANDMARK_NAMES", "Celeba", "CelebaConfig"]

"""`eye_aesthetics` TFDS builder (AesGAN eye crops, high/low): importing this package registers it."""

from .eye_aesthetics import EyeAesthetics

__all__ = ["EyeAesthetics"]

"""`scut_fbp5500` TFDS builder (SCUT-FBP5500 with every rater's score): importing this package registers it."""

from .scut_fbp5500 import ETHNICITIES, GENDERS, ScutFbp5500, ScutFbp5500Config

__all__ = ["ETHNICITIES", "GENDERS", "ScutFbp5500", "ScutFbp5500Config"]

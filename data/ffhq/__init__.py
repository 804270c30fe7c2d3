"""`ffhq` TFDS builder (Flickr-Faces-HQ at 1024 px or resized): importing this package registers it."""

from .ffhq import Ffhq, FfhqConfig

__all__ = ["Ffhq", "FfhqConfig"]

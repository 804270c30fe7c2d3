"""`synthetic_faces` TFDS builder: importing this package registers it with TFDS."""

from .render import render_face
from .synthetic_faces import SyntheticFaces, SyntheticFacesConfig, make_config

__all__ = ["SyntheticFaces", "SyntheticFacesConfig", "make_config", "render_face"]

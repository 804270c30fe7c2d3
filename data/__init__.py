"""TFDS builders of facejax, installed as `facejax.datasets`; importing it registers them."""

from . import synthetic_faces  # noqa: F401  (registers "synthetic_faces")

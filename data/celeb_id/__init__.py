"""`celeb_id` TFDS builder (ExGAN's Celeb-ID: identities, eyes, eye states): importing this package registers it."""

from .celeb_id import CelebId, CelebIdConfig

__all__ = ["CelebId", "CelebIdConfig"]

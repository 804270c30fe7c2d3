"""`mt_makeup` TFDS builder (BeautyGAN's MT dataset with parsing maps): importing this package registers it."""

from .mt_makeup import DOMAINS, PARSING_LABELS, MtMakeup, MtMakeupConfig

__all__ = ["DOMAINS", "PARSING_LABELS", "MtMakeup", "MtMakeupConfig"]

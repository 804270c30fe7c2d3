"""`helen` TFDS builder (Helen face parsing, 11 classes): importing this package registers it."""

from .helen import PARSING_LABELS, Helen

__all__ = ["PARSING_LABELS", "Helen"]

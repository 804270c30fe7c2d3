"""`eye_aesthetics`: eye crops labelled high or low aesthetic quality (AesGAN), read from a manual_dir.

AesGAN's eye-aesthetics set (1,040 eye crops from CAS-PEAL, scored by 22 volunteers and split by mean
score into a high and a low grade) was not released, so this builder defines its layout:

    <manual_dir>/high/<image>       high-quality eyes (label 1)
    <manual_dir>/low/<image>        low-quality eyes (label 0)
        -> one split, `train`
  or
    <manual_dir>/<split>/high/<image>, <manual_dir>/<split>/low/<image>
        -> one split per folder, e.g. train/ and test/

See README.md next to this file for configs and features.
"""

from __future__ import annotations

from .._domain_folders import DomainFolderBuilder, DomainFolderConfig

LAYOUT = (
    "<manual_dir>/{high,low}/<image> (one split, train) or <manual_dir>/<split>/{high,low}/<image> "
    "(one split per folder, e.g. train/ and test/)"
)


def _config(size: int | None) -> DomainFolderConfig:
    return DomainFolderConfig(
        name="original" if size is None else str(size),
        img_size=size,
        description=(
            "eye crops as stored."
            if size is None
            else f"eye crops resized (stretched) to {size}x{size}, AesGAN's eye-net input, stored as PNG."
        ),
    )


class EyeAesthetics(DomainFolderBuilder):
    """Eye crops with a low (0) / high (1) aesthetic label; configs 128 (default), original."""

    DOMAINS = ("low", "high")
    ROOT_SPLIT = "train"
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "AesGAN's eye-aesthetics crops are not public: put your eye crops in high/ and low/ folders "
        f"(optionally inside split folders). Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(s) for s in (128, None)]
    DEFAULT_BUILDER_CONFIG_NAME = "128"

"""`celeba_hq`: CelebA-HQ female/male faces in StarGAN v2's layout, read from a manual_dir.

Expected manual_dir (StarGAN v2's `celeba_hq.zip`, extracted):

    <manual_dir>/train/female/000004.jpg    (JPEG, 1024x1024 in the release)
    <manual_dir>/train/male/...
    <manual_dir>/val/female/...
    <manual_dir>/val/male/...

Every sub-folder of manual_dir that holds the folders female/ and male/ becomes a split of the same
name (train/ and val/ in the release).

    facejax prepare celeba_hq --manual_dir=data/celeba_hq            # config 256
    facejax prepare celeba_hq/original --manual_dir=data/celeba_hq

See README.md next to this file for configs and features.
"""

from __future__ import annotations

from .._domain_folders import DomainFolderBuilder, DomainFolderConfig

LAYOUT = (
    "<manual_dir>/<split>/{female,male}/<image>.jpg with splits train/ and val/ (StarGAN v2's "
    "celeba_hq.zip extracted; any split folder names work)"
)


def _config(size: int | None) -> DomainFolderConfig:
    return DomainFolderConfig(
        name="original" if size is None else str(size),
        img_size=size,
        description=(
            "images as released (1024x1024 JPEG)."
            if size is None
            else f"images resized to {size}x{size} (Lanczos), stored as PNG."
        ),
    )


class CelebaHq(DomainFolderBuilder):
    """CelebA-HQ faces by gender, StarGAN v2 layout; configs original, 256 (default), 128."""

    DOMAINS = ("female", "male")
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download CelebA-HQ with StarGAN v2's download.sh (`bash download.sh celeba-hq-dataset`), "
        f"extract it, and pass the folder holding train/ and val/ as manual_dir. Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(s) for s in (256, None, 128)]
    DEFAULT_BUILDER_CONFIG_NAME = "256"

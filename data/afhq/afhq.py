"""`afhq`: Animal Faces-HQ (cat, dog, wild) in StarGAN v2's layout, read from a manual_dir.

Expected manual_dir (StarGAN v2's `afhq.zip` or `afhq_v2.zip`, extracted):

    <manual_dir>/train/cat/flickr_cat_000002.jpg    (v1: 512x512 JPEG; v2: 512x512 PNG)
    <manual_dir>/train/dog/...
    <manual_dir>/train/wild/...
    <manual_dir>/val/{cat,dog,wild}/...             (500 images per domain)

Every sub-folder of manual_dir that holds the folders cat/, dog/ and wild/ becomes a split of the same
name, so `train`/`val` in the release, and e.g. `src`/`ref` for StarGAN v2's sample folders.

    facejax prepare afhq/v1_256 --manual_dir=data/afhq
    tfds.builder("afhq/v1", data_dir=d).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="data/afhq"))

See README.md next to this file for configs and features.
"""

from __future__ import annotations

from .._domain_folders import DomainFolderBuilder, DomainFolderConfig

LAYOUT = (
    "<manual_dir>/<split>/{cat,dog,wild}/<image> with splits train/ and val/ (StarGAN v2's "
    "afhq.zip with JPEGs for afhq/v1*, afhq_v2.zip with PNGs for afhq/v2*; any split folder "
    "names work)"
)

_RELEASES = {
    "v1": (
        (".jpg", ".jpeg"),
        "StarGAN v2's afhq.zip (JPEG)",
        "expects the JPEGs of afhq.zip (use afhq/v2 or afhq/v2_256 for afhq_v2.zip's PNGs)",
    ),
    "v2": (
        (".png",),
        "StarGAN v2's afhq_v2.zip (PNG)",
        "expects the PNGs of afhq_v2.zip (use afhq/v1 or afhq/v1_256 for afhq.zip's JPEGs)",
    ),
}


def _config(release: str, size: int | None) -> DomainFolderConfig:
    extensions, what, hint = _RELEASES[release]
    return DomainFolderConfig(
        name=release if size is None else f"{release}_{size}",
        img_size=size,
        extensions=extensions,
        extension_hint=hint,
        description=f"{what}; "
        + (
            "images as released (512x512)."
            if size is None
            else f"images resized to {size}x{size} (Lanczos), stored as PNG."
        ),
    )


class Afhq(DomainFolderBuilder):
    """AFHQ cat/dog/wild faces, StarGAN v2 layout; configs v1, v1_256, v1_128, v2, v2_256, v2_128."""

    DOMAINS = ("cat", "dog", "wild")
    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download AFHQ with StarGAN v2's download.sh (`bash download.sh afhq-dataset` for v1, "
        "`afhq-v2-dataset` for v2), extract it, and pass the folder holding train/ and val/ as "
        f"manual_dir. Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(r, s) for r in ("v1", "v2") for s in (None, 256, 128)]
    DEFAULT_BUILDER_CONFIG_NAME = "v1_256"

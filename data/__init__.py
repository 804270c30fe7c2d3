"""TFDS builders of facejax, installed as `facejax.datasets`; importing it registers them all.

`import facejax` is enough for `tfds.builder(NAME)` too (see facejax/__init__.py). `BUILDERS` maps
every facejax dataset name to its builder class. All but `synthetic_faces` read a manually downloaded
dataset from a manual_dir (`facejax prepare NAME --manual_dir=DIR`); each folder's README.md gives the
layout it expects, its configs and its features.
"""

from . import (
    afhq,
    celeb_id,
    celeba,
    celeba_hq,
    eye_aesthetics,
    ffhq,
    helen,
    mt_makeup,
    scut_fbp5500,
    synthetic_faces,  # noqa: F401  (registers "synthetic_faces")
)

BUILDERS = {
    cls.name: cls
    for cls in (
        afhq.Afhq,
        celeb_id.CelebId,
        celeba.Celeba,
        celeba_hq.CelebaHq,
        eye_aesthetics.EyeAesthetics,
        ffhq.Ffhq,
        helen.Helen,
        mt_makeup.MtMakeup,
        scut_fbp5500.ScutFbp5500,
        synthetic_faces.SyntheticFaces,
    )
}

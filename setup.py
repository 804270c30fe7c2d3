"""Package discovery only; every other setting is in setup.cfg.

facejax/ and its sub-packages are found as they are (a new folder under facejax/families/ installs without editing
anything), data/ (the TFDS builders) installs as facejax.datasets and configs/ (the presets) as facejax.presets,
renamings setup.cfg's `find:` cannot do.
"""

from setuptools import find_packages, setup


def packages() -> list[str]:
    return (
        find_packages(include=["facejax", "facejax.*"])
        + ["facejax.datasets"]
        + [f"facejax.datasets.{p}" for p in find_packages("data")]
        + ["facejax.presets"]
    )


if __name__ == "__main__":
    setup(packages=packages())

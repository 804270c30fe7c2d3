"""Builders of datasets laid out as StarGAN v2 expects: `<manual_dir>/<split>/<domain>/<image>`.

Every sub-folder of manual_dir that holds the builder's domain folders is a split, named after the
folder: `train/` and `val/` in the releases, but any name works (e.g. `src/` and `ref/`). Each split
folder must hold exactly the builder's domain folders, each with at least one image. Labels are the
domain's index in `DOMAINS` (alphabetical for the StarGAN v2 datasets, as its ImageFolder sorts them).
"""

from __future__ import annotations

import dataclasses
import os
import re

import tensorflow_datasets as tfds

from ._manual import IMAGE_EXTENSIONS, ImageConfig, ManualBuilder, image_files, read_rgb, subdirs


@dataclasses.dataclass(eq=False)
class DomainFolderConfig(ImageConfig):
    """`extensions`: the file types this release ships (checked; empty = any image type);
    `extension_hint`: said when a file has another type."""

    extensions: tuple[str, ...] = ()
    extension_hint: str = ""


class DomainFolderBuilder(ManualBuilder, skip_registration=True):
    DOMAINS: tuple[str, ...] = ()
    # Split name used when manual_dir itself holds the domain folders; None refuses that layout.
    ROOT_SPLIT: str | None = None
    FIT = "resize"  # how img_size configs fit an image to a square (see _manual.fit_square)

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=cfg.image_shape()),
                    "label": tfds.features.ClassLabel(names=list(self.DOMAINS)),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        root = self._manual_root(dl_manager)
        return {
            split: self._generate_examples(records, self._example) for split, records in self.find_splits(root).items()
        }

    def find_splits(self, root) -> dict[str, list[tuple[str, str, int]]]:
        """{split: [(relative path, absolute path, label), ...]} of the images under manual_dir."""
        domains = list(self.DOMAINS)
        top = subdirs(root)
        if set(domains) & set(top):
            if self.ROOT_SPLIT is None:
                raise self.layout_error(
                    root,
                    f"manual_dir holds the domain folders ({', '.join(d for d in top if d in domains)}) "
                    f"itself; point it at the folder above them, whose sub-folders are the splits",
                )
            split_dirs = {self.ROOT_SPLIT: ""}
        else:
            split_dirs = {d: d for d in top if set(domains) & set(subdirs(os.path.join(root, d)))}
        if not split_dirs:
            found = ", ".join(f"{d}/" for d in top) or "no sub-folders"
            raise self.layout_error(
                root, f"no split folder holds the domain folders {', '.join(domains)} (found {found})"
            )
        splits = {}
        for split, rel_dir in split_dirs.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", split):
                raise self.layout_error(
                    root, f"split folder {split!r} is not a usable split name (letters, digits and _ only)"
                )
            split_path = os.path.join(root, rel_dir)
            present = subdirs(split_path)
            prefix = f"{rel_dir}/" if rel_dir else ""
            missing = [d for d in domains if d not in present]
            if missing:
                raise self.layout_error(
                    root, f"{prefix or 'manual_dir'} lacks the domain folder(s) {', '.join(missing)}"
                )
            extra = [d for d in present if d not in domains]
            if extra:
                raise self.layout_error(
                    root,
                    f"{prefix or 'manual_dir/'} holds unexpected folder(s) "
                    f"{', '.join(extra)}; the domains of {self.name} are "
                    f"{', '.join(domains)}",
                )
            records = []
            for label, domain in enumerate(domains):
                files = image_files(os.path.join(split_path, domain))
                if not files:
                    raise self.layout_error(root, f"{prefix}{domain}/ holds no images ({', '.join(IMAGE_EXTENSIONS)})")
                for f in files:
                    rel = f"{prefix}{domain}/{f}"
                    self._check_extension(root, rel)
                    records.append((rel, os.path.join(split_path, domain, f), label))
            splits[split] = records
        return splits

    def _check_extension(self, root, rel: str) -> None:
        cfg = self.builder_config
        if cfg.extensions and not rel.lower().endswith(tuple(cfg.extensions)):
            raise self.layout_error(
                root, f"{rel} is not a {'/'.join(cfg.extensions)} file; {self.name}/{cfg.name} {cfg.extension_hint}"
            )

    def _example(self, record):
        rel, path, label = record
        image = read_rgb(path, size=self.builder_config.img_size, fit=self.FIT)
        return rel, {"image": image.encoded, "label": label, "file_name": rel}

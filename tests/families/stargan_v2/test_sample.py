"""Folder translation (`facejax sample --src --ref`, the family's sample_folders) errors are caught before any
work, naming the file or folder."""

import pytest
from PIL import Image

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.families import base


@pytest.fixture(scope="module")
def family():
    return registry.create(
        configs.load(
            "stargan_v2:synthetic",
            **{"model.dim_in": 16, "model.max_conv_dim": 32, "model.hidden_dim": 32, "model.num_domains": 2},
        )
    )


def _folder(root, layout):
    for rel, content in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "image":
            Image.new("RGB", (40, 40), (200, 10, 10)).save(path)
        else:
            path.write_bytes(content)
    return root


def test_src_without_domain_folders(tmp_path, family):
    src = _folder(tmp_path / "src", {"x.png": "image"})
    ref = _folder(tmp_path / "ref", {"a/r.png": "image", "b/s.png": "image"})
    with pytest.raises(FacejaxError, match="has no domain sub-folders"):
        family.sample_folders(None, base.FolderRequest(str(src), str(ref)), str(tmp_path / "out"))


def test_unreadable_image_is_named(tmp_path, family):
    src = _folder(tmp_path / "src", {"a/ok.png": "image", "a/broken.png": b"not an image"})
    ref = _folder(tmp_path / "ref", {"a/r.png": "image", "b/s.png": "image"})
    with pytest.raises(FacejaxError, match=r"unreadable image .*broken\.png"):
        family.sample_folders(None, base.FolderRequest(str(src), str(ref)), str(tmp_path / "out"))


def test_reference_domains_must_match_model(tmp_path, family):
    src = _folder(tmp_path / "src", {"a/x.png": "image"})
    ref = _folder(tmp_path / "ref", {"a/r.png": "image", "b/s.png": "image", "c/t.png": "image"})
    with pytest.raises(FacejaxError, match="3 domain sub-folders.*2 domains"):
        family.sample_folders(None, base.FolderRequest(str(src), str(ref)), str(tmp_path / "out"))


def test_declares_its_folders_and_needs_a_reference(tmp_path, family):
    assert isinstance(family, base.SamplesFolders) and family.folder_inputs.ref_required
    assert not family.folder_inputs.mask
    src = _folder(tmp_path / "src", {"a/x.png": "image"})
    with pytest.raises(FacejaxError, match="give both"):
        family.sample_folders(None, base.FolderRequest(str(src)), str(tmp_path / "out"))

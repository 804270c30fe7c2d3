"""How BeautyGAN reads a user's image (wtjiang98/BeautyGAN_pytorch ``dataloder.py`` / ``data_loaders/makeup.py``):
``Resize(img_size)`` of the PIL image (PIL's bilinear; the shorter side becomes img_size, the aspect ratio kept),
ToTensor, Normalize(0.5, 0.5); parsing maps ``Resize(img_size, NEAREST)``.

The original has no crop: its MT images are square (361 px), so Resize(256) gives 256 x 256. A non-square photo
would give a non-square tensor, which its generator cannot pair with a reference of another shape (torch.cat of
the two branches fails). facejax takes the central img_size x img_size window of the original's resized picture
(torchvision CenterCrop(img_size)): for a square photo this is exactly the original's array; for a non-square one,
every pixel is the original's pixel at the same place of its resized picture (tests/families/beautygan/
test_fidelity.py checks both against torchvision)."""

from facejax import images


def recipe(config) -> images.Recipe:
    return images.Recipe(config.img_size, crop=config.img_size, filter="bilinear", scale="torch")


def parsing_recipe(config) -> images.Recipe:
    """The parsing map's reading: Resize(img_size, NEAREST) (labels kept), then the same central window."""
    return images.Recipe(config.img_size, crop=config.img_size, filter="nearest")

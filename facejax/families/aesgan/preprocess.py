"""How AesGAN reads a face (AliceQLin/AesGAN utils.py get_image with is_crop=False): ``scipy.misc.imread(path)
.astype(np.float)``, ``scipy.misc.imresize(img, [256, 256])`` (a float input is bytescaled: min-max stretched to
0..255 first; then PIL's bilinear resize of the 8-bit picture to 256 x 256, squashing a non-square photo), then
``/ 127.5 - 1`` in float64, fed to TF as float32. config.data.bytescale=False leaves the stretch out."""

from facejax import images


def recipe(size: int, bytescale: bool = True) -> images.Recipe:
    """size: config.img_size; bytescale: config.data.bytescale."""
    return images.Recipe((size, size), filter="bilinear", bytescale=bool(bytescale), scale="numpy")

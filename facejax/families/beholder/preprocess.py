"""How Beholder-GAN reads a face to beautify (beautify_image.py): PIL's ``img.resize((res, res), Image.ANTIALIAS)``
(Lanczos; a non-square photo is squashed, as the script does), then ``/ 127.5 - 1`` in NumPy (float64), fed to TF as
float32. config.beautify.resize_filter="bilinear" uses PIL's bilinear instead."""

from facejax import images


def recipe(size: int, resize_filter: str = "antialias") -> images.Recipe:
    return images.Recipe((size, size), filter=resize_filter, scale="numpy")

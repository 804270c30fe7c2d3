"""How StarGAN v2 reads a user's image (core/data_loader.py get_test_loader / get_eval_loader): Resize([img_size,
img_size]) of the PIL image (PIL's bilinear; a non-square photo is squashed, as the original does), ToTensor,
Normalize(0.5, 0.5). `facejax sample --src/--ref` and Model.translate read images with this recipe (facejax/images.py),
so the arrays fed to the generator equal the original's for the same file."""

from facejax import images


def recipe(config) -> images.Recipe:
    return images.Recipe((config.img_size, config.img_size), filter="bilinear", scale="torch")

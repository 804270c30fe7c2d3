"""Shared settings of the IPM-Net tests: tiny configs, so each step compiles in seconds (the synthetic_faces data
is tests/families/conftest.py's synthetic_tfds)."""

# Tiny widths at 32 px: the original's structure (3 discriminator scales, 4 style downsamplings, AdaIN decoder,
# a Bottleneck ResNet) with few channels.
TINY = {
    "model.gen.dim": 4,
    "model.gen.mlp_dim": 8,
    "model.gen.style_dim": 4,
    "model.gen.n_res": 1,
    "model.dis.dim": 4,
    "model.dis.n_layer": 2,
    "identity.width": 4,
    "identity.layers": "1,1,1,1",
    "batch_size": 4,
    "log_every": 25,
    "sample_every": 0,
    "checkpoint_every": 100_000,
    "num_sample_images": 3,
    "identity.bn_train_from_step": -1,
}  # one BatchNorm mode: half the compile

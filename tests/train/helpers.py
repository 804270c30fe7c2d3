"""Tiny StarGAN v2 configs for tests: a fraction of a second per step on 2 CPU cores."""

from facejax import configs


def tiny_config(data_dir, **overrides):
    base = {
        "img_size": 32,
        "batch_size": 4,
        "total_steps": 4,
        "seed": 3,
        "model.dim_in": 16,
        "model.max_conv_dim": 32,
        "model.hidden_dim": 32,
        "model.style_dim": 16,
        "model.latent_dim": 8,
        "data.data_dir": str(data_dir),
        "log_every": 2,
        "sample_every": 0,
        "checkpoint_every": 1000,
        "num_sample_images": 4,
    }
    base.update(overrides)
    return configs.load("stargan_v2:synthetic", **base)

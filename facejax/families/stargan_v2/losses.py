"""StarGAN v2 objectives (clovaai/stargan-v2 core/solver.py compute_d_loss / compute_g_loss).

`nets` is any object with callables generator(x, s, masks), mapping_network(z, y),
style_encoder(x, y), discriminator(x, y). A guide is either ("latent", z) or ("reference", x_ref):
it decides whether the target style comes from the mapping network or the style encoder.
"""

import jax
import jax.numpy as jnp

from facejax.nn.gan_losses import bce_with_logits, logits_and_r1


def target_style(nets, guide, y_trg):
    kind, value = guide
    if kind == "latent":
        return nets.mapping_network(value, y_trg)
    return nets.style_encoder(value, y_trg)


def d_loss(nets, x_real, y_org, y_trg, x_fake, lambda_reg):
    """BCE(D(real), 1) + BCE(D(fake), 0) + lambda_reg * R1(real); x_fake carries no gradient."""
    out_real, r1 = logits_and_r1(lambda x: nets.discriminator(x, y_org), x_real)
    loss_real = bce_with_logits(out_real, 1.0)
    loss_fake = bce_with_logits(nets.discriminator(jax.lax.stop_gradient(x_fake), y_trg), 0.0)
    loss = loss_real + loss_fake + lambda_reg * r1
    return loss, {"real": loss_real, "fake": loss_fake, "reg": r1}


def g_loss(nets, x_real, y_org, y_trg, guide, guide2, lambdas, masks=None, cycle_masks_fn=None):
    """adv + lambda_sty * style recon - lambda_ds * diversity + lambda_cyc * cycle."""
    s_trg = target_style(nets, guide, y_trg)
    x_fake = nets.generator(x_real, s_trg, masks)
    loss_adv = bce_with_logits(nets.discriminator(x_fake, y_trg), 1.0)

    s_pred = nets.style_encoder(x_fake, y_trg)
    loss_sty = jnp.mean(jnp.abs(s_pred - s_trg))

    s_trg2 = target_style(nets, guide2, y_trg)
    x_fake2 = jax.lax.stop_gradient(nets.generator(x_real, s_trg2, masks))
    loss_ds = jnp.mean(jnp.abs(x_fake - x_fake2))

    cyc_masks = cycle_masks_fn(x_fake) if cycle_masks_fn is not None else None
    s_org = nets.style_encoder(x_real, y_org)
    x_rec = nets.generator(x_fake, s_org, cyc_masks)
    loss_cyc = jnp.mean(jnp.abs(x_rec - x_real))

    loss = (loss_adv + lambdas["sty"] * loss_sty - lambdas["ds"] * loss_ds
            + lambdas["cyc"] * loss_cyc)
    return loss, {"adv": loss_adv, "sty": loss_sty, "ds": loss_ds, "cyc": loss_cyc}

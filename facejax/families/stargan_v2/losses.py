"""StarGAN v2 objectives (clovaai/stargan-v2 core/solver.py compute_d_loss / compute_g_loss) and the
variants the paper's Table 1 rows swap in.

`nets` is any object with callables generator(x, s, masks), discriminator(x, y) and, where the row
has them, mapping_network(z, y) and style_encoder(x, y). A guide is ("latent", z), ("reference", x_ref)
or None (label rows). Two pieces are chosen per row:

- a style source, STYLES[config.model.style]: the target style of a guide, the source style the
  cycle goes back with, and the style reconstruction term (None when the row has none);
- an adversarial term, D_ADV / G_ADV[config.adv_loss].

A discriminator with a class head (row A's ACGAN D) returns (logits, domain logits); its domain
classification terms are added with weight lambda_cls. The multi-task D returns logits only.
"""

import jax
import jax.numpy as jnp
import optax

from facejax.nn.gan_losses import bce_with_logits, gradient_penalty, logits_and_r1

# ------------------------------------------------------------------ style sources


class MappedStyle:
    """Rows E, F (StarGAN v2): domain-specific style codes from the mapping network (latent guide) or
    the style encoder (reference guide); style reconstruction |E(G(x, s), y) - s|."""

    reference_guided = True

    def __init__(self, model_config):
        self.dim = model_config.style_dim

    def target(self, nets, guide, y):
        kind, value = guide
        if kind == "latent":
            return nets.mapping_network(value, y)
        return nets.style_encoder(value, y)

    def source(self, nets, x, y):
        return nets.style_encoder(x, y)

    def reconstruction(self, nets, x_fake, y, s):
        return jnp.mean(jnp.abs(nets.style_encoder(x_fake, y) - s))


class LatentStyle:
    """Row D: s = [one_hot(y), z] with z ~ N(0, I) (latent guide) or z = E(x_ref) (reference guide),
    E being one head shared by all domains; latent reconstruction |E(G(x, s)) - z|."""

    reference_guided = True

    def __init__(self, model_config):
        self.num_domains = model_config.num_domains
        self.dim = model_config.num_domains + model_config.latent_dim

    def _code(self, nets, x):
        return nets.style_encoder(x, jnp.zeros((x.shape[0],), jnp.int32))

    def _style(self, y, z):
        return jnp.concatenate([jax.nn.one_hot(y, self.num_domains, dtype=z.dtype), z], axis=-1)

    def target(self, nets, guide, y):
        kind, value = guide
        return self._style(y, value if kind == "latent" else self._code(nets, value))

    def source(self, nets, x, y):
        return self._style(y, self._code(nets, x))

    def reconstruction(self, nets, x_fake, y, s):
        return jnp.mean(jnp.abs(self._code(nets, x_fake) - s[:, self.num_domains :]))


class LabelStyle:
    """Rows A-C: the one-hot domain label is the whole condition (v1's tiled input channels, or the
    AdaIN style vector of row C); guides are ignored, there is no reconstruction term."""

    reference_guided = False
    reconstruction = None

    def __init__(self, model_config):
        self.num_domains = self.dim = model_config.num_domains

    def target(self, nets, guide, y):
        return jax.nn.one_hot(y, self.num_domains, dtype=jnp.float32)

    def source(self, nets, x, y):
        return self.target(nets, None, y)


STYLES = {"style": MappedStyle, "latent": LatentStyle, "label": LabelStyle}

# ------------------------------------------------------------------ adversarial terms


def critic(discriminator, x, y):
    """(real/fake logits, domain logits or None) of any discriminator."""
    out = discriminator(x, y)
    return out if isinstance(out, tuple) else (out, None)


def d_nonsaturating(d, x_real, y_org, x_fake, y_trg, key):
    """BCE(D(real), 1) + BCE(D(fake), 0) + lambda_reg * R1(real)."""
    out_real, r1 = logits_and_r1(lambda x: critic(d, x, y_org)[0], x_real)
    loss_real = bce_with_logits(out_real, 1.0)
    loss_fake = bce_with_logits(critic(d, x_fake, y_trg)[0], 0.0)
    return {"real": loss_real, "fake": loss_fake, "reg": r1}, None


def d_wgan_gp(d, x_real, y_org, x_fake, y_trg, key):
    """-mean D(real) + mean D(fake) + lambda_gp * GP (the penalty on real/fake interpolates, scored
    with the real images' domain output); also returns the real images' domain logits."""
    out_real, cls_real = critic(d, x_real, y_org)
    out_fake, _ = critic(d, x_fake, y_trg)
    gp = gradient_penalty(lambda x: critic(d, x, y_org)[0], x_real, x_fake, key)
    return {"real": -jnp.mean(out_real), "fake": jnp.mean(out_fake), "gp": gp}, cls_real


def g_nonsaturating(out_fake):
    return bce_with_logits(out_fake, 1.0)


def g_wgan(out_fake):
    return -jnp.mean(out_fake)


D_ADV = {"nonsaturating": d_nonsaturating, "wgan_gp": d_wgan_gp}
G_ADV = {"nonsaturating": g_nonsaturating, "wgan_gp": g_wgan}


def domain_cross_entropy(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean()


def _total(terms, weights):
    return sum(weights[k] * v for k, v in terms.items())


# ------------------------------------------------------------------ the two objectives


def d_loss(nets, adv, x_real, y_org, y_trg, x_fake, key, lambdas):
    """The row's adversarial D term (+ lambda_cls * domain classification of the real images when D
    has a class head); x_fake carries no gradient."""
    terms, cls_real = D_ADV[adv](nets.discriminator, x_real, y_org, jax.lax.stop_gradient(x_fake), y_trg, key)
    if cls_real is not None:
        terms["cls"] = domain_cross_entropy(cls_real, y_org)
    weights = {"real": 1.0, "fake": 1.0, "reg": lambdas["reg"], "gp": lambdas["gp"], "cls": lambdas["cls"]}
    return _total(terms, weights), terms


def g_loss(nets, style, adv, x_real, y_org, y_trg, guide, guide2, lambdas, masks=None, cycle_masks_fn=None):
    """adv [+ lambda_cls * cls] [+ lambda_sty * style recon] [- lambda_ds * diversity] + lambda_cyc * cycle.

    The diversity term needs a second guide (rows with latent codes / references); the cycle goes back
    with the source image's style, style.source(x_real, y_org).
    """
    s_trg = style.target(nets, guide, y_trg)
    x_fake = nets.generator(x_real, s_trg, masks)
    out_fake, cls_fake = critic(nets.discriminator, x_fake, y_trg)
    terms = {"adv": G_ADV[adv](out_fake)}
    if cls_fake is not None:
        terms["cls"] = domain_cross_entropy(cls_fake, y_trg)
    if style.reconstruction is not None:
        terms["sty"] = style.reconstruction(nets, x_fake, y_trg, s_trg)
    if guide2 is not None:
        s_trg2 = style.target(nets, guide2, y_trg)
        x_fake2 = jax.lax.stop_gradient(nets.generator(x_real, s_trg2, masks))
        terms["ds"] = jnp.mean(jnp.abs(x_fake - x_fake2))

    cyc_masks = cycle_masks_fn(x_fake) if cycle_masks_fn is not None else None
    x_rec = nets.generator(x_fake, style.source(nets, x_real, y_org), cyc_masks)
    terms["cyc"] = jnp.mean(jnp.abs(x_rec - x_real))

    weights = {"adv": 1.0, "cls": lambdas["cls"], "sty": lambdas["sty"], "ds": -lambdas["ds"], "cyc": lambdas["cyc"]}
    return _total(terms, weights), terms

"""The StarGAN v2 training iteration in PyTorch eager mode, on the project's reference modules
(torch_ref.py and torch_wing.py): the baseline `facejax bench --against=torch` times.

One iteration is the original's (clovaai/stargan-v2 core/solver.py train, reference/stargan_v2.md
section 3.2) and the same maths as facejax's jitted step (family.py):

  D update, latent-guided fake; D update, reference-guided fake (each: BCE(D(real), 1) +
  BCE(D(fake), 0) + lambda_reg * R1, R1 by autograd.grad with create_graph);
  G+F+E update, latent-guided; G update, reference-guided (adv + lambda_sty * sty -
  lambda_ds * ds + lambda_cyc * cyc); EMA of G, F, E (lerp 0.999).

Adam(betas=(beta1, beta2), eps=1e-8, weight_decay) per net, lr for G/E/D and f_lr for F; lambda_ds
decays with the step as in facejax. With w_hpf > 0 the generator takes FAN's masks (the reference
FAN of torch_wing.py, frozen, eval mode): once from x_real for the whole
iteration and from x_fake for each cycle reconstruction, under no_grad, as the original and facejax
do. Gradients are taken only for the nets an update steps and the second fake of the diversity term
is made under no_grad (its gradient is cut in the original too): the same maths as the original
with less wasted work, so the baseline is not slowed down by work the original's solver does but
does not need.

Only StarGAN v2 itself (config.model.style='style', the multi-task D, non-saturating loss,
n_critic=1) runs here. It runs on the GPU when JAX does and torch sees one (cudnn.benchmark on, as in
the original's solver), else on the CPU.
"""

from __future__ import annotations

import copy

import jax
import numpy as np

from facejax.bench.torch_common import import_torch
from facejax.errors import FacejaxError


def check_supported(config) -> None:
    m = config.model
    wanted = {
        "model.generator": (m.generator, "stargan_v2"),
        "model.discriminator": (m.discriminator, "multitask"),
        "model.style": (m.style, "style"),
        "adv_loss": (config.adv_loss, "nonsaturating"),
        "n_critic": (config.n_critic, 1),
    }
    for field, (value, want) in wanted.items():
        if value != want:
            raise FacejaxError(
                f"bench --against=torch runs StarGAN v2 itself (row F): config.{field}={value!r}, expected {want!r}"
            )


def _default_device(torch) -> str:
    """CUDA when JAX computes on a GPU and torch sees one; the CPU otherwise."""
    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def _he_init(module) -> None:
    """The original's he_init: kaiming_normal_(fan_in, relu) weights, zero biases."""
    import torch
    from torch import nn

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                with torch.no_grad():
                    m.bias.zero_()


class TorchStarGANv2Step:
    """Nets, optimizers and EMA copies of one StarGAN v2 run; `step(batch)` is one iteration."""

    def __init__(self, config, seed: int = 0, device: str | None = None):

        check_supported(config)
        self.torch = torch = import_torch()
        from facejax.families.stargan_v2 import torch_ref as ref
        from facejax.families.stargan_v2 import torch_wing as wing

        self.config = config
        self.device = torch.device(device or _default_device(torch))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        c, m = config, config.model
        torch.manual_seed(seed)
        self.gen = torch.Generator(self.device).manual_seed(seed)
        self.nets = {
            "generator": ref.Generator(c.img_size, m.style_dim, m.max_conv_dim, m.w_hpf, m.dim_in),
            "mapping_network": ref.MappingNetwork(m.latent_dim, m.style_dim, m.num_domains, m.hidden_dim),
            "style_encoder": ref.StyleEncoder(c.img_size, m.style_dim, m.num_domains, m.max_conv_dim, m.dim_in),
            "discriminator": ref.Discriminator(c.img_size, m.num_domains, m.max_conv_dim, m.dim_in),
        }
        for net in self.nets.values():
            _he_init(net)
            net.train().to(self.device)
        # Frozen (no optimizer, no EMA), eval mode; its weights do not change the cost of an iteration.
        self.fan = wing.FAN(m.fan_img_size, m.fan_width).eval().to(self.device) if m.w_hpf > 0 else None
        self.ema = {k: copy.deepcopy(self.nets[k]) for k in ("generator", "mapping_network", "style_encoder")}
        self.optims = {
            k: torch.optim.Adam(
                net.parameters(),
                lr=c.f_lr if k == "mapping_network" else c.lr,
                betas=(c.beta1, c.beta2),
                eps=1e-8,
                weight_decay=c.weight_decay,
            )
            for k, net in self.nets.items()
        }
        self.step_count = 0

    def load_state_dicts(self, state_dicts: dict) -> None:
        """Start from given weights, {net name: PyTorch state dict of arrays} (strict); EMA copies too."""
        t = self.torch
        for k, sd in state_dicts.items():
            self.nets[k].load_state_dict({n: t.from_numpy(np.array(v, np.float32)) for n, v in sd.items()}, strict=True)
            if k in self.ema:
                self.ema[k].load_state_dict(self.nets[k].state_dict())

    def _masks(self, x):
        return self.fan.get_heatmap(x) if self.fan is not None else None

    # ------------------------------------------------------------------ inputs

    def to_torch(self, batch: dict) -> dict:
        """NHWC numpy batch (facejax's layout) -> NCHW float32 / int64 tensors."""
        t = self.torch
        out = {}
        for k, v in batch.items():
            v = np.asarray(v)
            if v.ndim == 4:
                out[k] = t.from_numpy(np.ascontiguousarray(v.transpose(0, 3, 1, 2), np.float32))
            else:
                out[k] = t.from_numpy(v.astype(np.int64))
        return {k: v.to(self.device) for k, v in out.items()}

    # ------------------------------------------------------------------ losses

    def _style(self, guide, y):
        kind, value = guide
        if kind == "latent":
            return self.nets["mapping_network"](value, y)
        return self.nets["style_encoder"](value, y)

    def _d_loss(self, x_real, y_org, y_trg, guide, masks):
        t, F = self.torch, self.torch.nn.functional
        D, G = self.nets["discriminator"], self.nets["generator"]
        x_real = x_real.detach().requires_grad_(True)
        out = D(x_real, y_org)
        loss_real = F.binary_cross_entropy_with_logits(out, t.ones_like(out))
        (grad,) = t.autograd.grad(out.sum(), x_real, create_graph=True)
        reg = 0.5 * grad.pow(2).reshape(x_real.size(0), -1).sum(1).mean(0)
        with t.no_grad():
            x_fake = G(x_real.detach(), self._style(guide, y_trg), masks)
        out_fake = D(x_fake, y_trg)
        loss_fake = F.binary_cross_entropy_with_logits(out_fake, t.zeros_like(out_fake))
        terms = {"real": loss_real, "fake": loss_fake, "reg": reg}
        return loss_real + loss_fake + self.config.lambda_reg * reg, terms

    def _g_loss(self, x_real, y_org, y_trg, guide, guide2, lambda_ds, masks):
        t, F = self.torch, self.torch.nn.functional
        nets, c = self.nets, self.config
        s_trg = self._style(guide, y_trg)
        x_fake = nets["generator"](x_real, s_trg, masks)
        out = nets["discriminator"](x_fake, y_trg)
        adv = F.binary_cross_entropy_with_logits(out, t.ones_like(out))
        sty = t.mean(t.abs(nets["style_encoder"](x_fake, y_trg) - s_trg))
        with t.no_grad():
            x_fake2 = nets["generator"](x_real, self._style(guide2, y_trg), masks)
        ds = t.mean(t.abs(x_fake - x_fake2))
        x_rec = nets["generator"](x_fake, nets["style_encoder"](x_real, y_org), self._masks(x_fake))
        cyc = t.mean(t.abs(x_rec - x_real))
        terms = {"adv": adv, "sty": sty, "ds": ds, "cyc": cyc}
        return adv + c.lambda_sty * sty - lambda_ds * ds + c.lambda_cyc * cyc, terms

    def _update(self, names, loss_and_terms, metrics, prefix):
        loss, terms = loss_and_terms
        metrics.update({f"{prefix}{k}": v.detach() for k, v in terms.items()})
        params = [p for k in names for p in self.nets[k].parameters()]
        # allow_unused: the decoder's conv1x1 kernels (w_hpf > 0) take no part; their grad stays None and
        # Adam skips them, as in the original.
        grads = self.torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        for k in names:
            self.optims[k].step()

    # ------------------------------------------------------------------ one iteration

    def step(self, batch: dict, z=None) -> dict:
        """One training iteration on a batch from `to_torch`; returns its losses (detached tensors,
        named as facejax's metrics). z: the two latent batches (drawn here when None)."""
        t, c = self.torch, self.config
        x_real, y_org, y_trg = batch["x_src"], batch["y_src"], batch["y_ref"]
        shape = (x_real.size(0), c.model.latent_dim)
        z_trg, z_trg2 = (
            [v.to(self.device) for v in z]
            if z is not None
            else (
                t.randn(shape, generator=self.gen, device=self.device),
                t.randn(shape, generator=self.gen, device=self.device),
            )
        )
        masks = self._masks(x_real)
        lambda_ds = c.lambda_ds * max(0.0, 1.0 - self.step_count / c.ds_iter)
        latent, ref = ("latent", z_trg), ("reference", batch["x_ref"])
        metrics = {}
        for prefix, guide in (("D/latent_", latent), ("D/ref_", ref)):
            self._update(("discriminator",), self._d_loss(x_real, y_org, y_trg, guide, masks), metrics, prefix)
        loss = self._g_loss(x_real, y_org, y_trg, latent, ("latent", z_trg2), lambda_ds, masks)
        self._update(("generator", "mapping_network", "style_encoder"), loss, metrics, "G/latent_")
        loss = self._g_loss(x_real, y_org, y_trg, ref, ("reference", batch["x_ref2"]), lambda_ds, masks)
        self._update(("generator",), loss, metrics, "G/ref_")
        with t.no_grad():
            for k, ema in self.ema.items():
                ema_p = list(ema.parameters())
                t._foreach_lerp_(ema_p, list(self.nets[k].parameters()), 1.0 - c.ema_decay)
        self.step_count += 1
        metrics["G/lambda_ds"] = t.tensor(lambda_ds)
        if self.device.type == "cuda":
            t.cuda.synchronize(self.device)  # the step is over when the GPU is done, for timing
        return metrics

"""facejax.nn.conv_transpose against torch.nn.functional.conv_transpose2d, over kernel sizes, strides, paddings
and output paddings, on both kernel paths (config.kernels: polyphase "cpu_tuned", input-dilated "native"),
values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from facejax.nn import kernels
from facejax.nn.conv_transpose import conv_transpose, conv_transpose_dilated, conv_transpose_polyphase

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("path", ["cpu_tuned", "native"])
def test_conv_transpose_equals_torch_values_and_grads(path):
    rng = np.random.default_rng(0)
    cases = with_grads = 0
    # BeautyGAN's (4, 2, 1), odd kernels, output padding, stride 3, stride 1, kernel 1; gradients (slow to compile
    # for the polyphase form) on the forms facejax's families use: BeautyGAN's, AesGAN's (3, 2, 1, 1) and (5, 2, 0)
    for k, s, p, op, h in (
        (4, 2, 1, 0, 5),
        (3, 2, 1, 1, 4),
        (5, 3, 2, 2, 3),
        (4, 3, 0, 1, 4),
        (3, 1, 1, 0, 4),
        (1, 2, 0, 1, 3),
        (5, 2, 0, 0, 3),
    ):
        grads = s == 2 and k in (3, 4, 5)
        x = rng.standard_normal((2, h, h + 1, 3)).astype(np.float32)
        w = rng.standard_normal((k, k, 4, 3)).astype(np.float32)  # (kh, kw, out, in)
        args = ((s, s), (p, p), (op, op))
        tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        tw = torch.from_numpy(w.transpose(3, 2, 0, 1).copy()).requires_grad_(True)
        ty = torch.nn.functional.conv_transpose2d(tx, tw, stride=s, padding=p, output_padding=op)
        want = ty.detach().numpy().transpose(0, 2, 3, 1)
        r = rng.standard_normal(want.shape).astype(np.float32)
        tgx, tgw = torch.autograd.grad((ty * torch.from_numpy(r.transpose(0, 3, 1, 2).copy())).sum(), (tx, tw))
        with kernels.use(path):
            got = np.asarray(jax.jit(lambda a, b: conv_transpose(a, b, *args))(x, w))
            if grads:
                gx, gw = jax.jit(jax.grad(lambda a, b: jnp.sum(conv_transpose(a, b, *args) * r), (0, 1)))(x, w)
        assert got.shape == want.shape, (k, s, p, op, h)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=str((k, s, p, op, h)))
        cases += 1
        if not grads:
            continue
        np.testing.assert_allclose(gx, tgx.numpy().transpose(0, 2, 3, 1), atol=2e-4, err_msg=str((k, s, p, op, h)))
        np.testing.assert_allclose(gw, tgw.numpy().transpose(2, 3, 1, 0), atol=5e-4, err_msg=str((k, s, p, op, h)))
        with_grads += 1
    assert cases == 7 and with_grads == 3
    # the two named implementations compute the same function (both paths above are these two)
    x = rng.standard_normal((1, 4, 5, 3)).astype(np.float32)
    w = rng.standard_normal((4, 4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(
        conv_transpose_polyphase(x, w, (2, 2), (1, 1)), conv_transpose_dilated(x, w, (2, 2), (1, 1)), atol=1e-4
    )

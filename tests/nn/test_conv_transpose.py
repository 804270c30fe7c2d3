"""facejax.nn.conv_transpose (polyphase) against torch.nn.functional.conv_transpose2d, over kernel sizes,
strides, paddings and output paddings."""

import numpy as np
import pytest

import jax

from facejax.nn.conv_transpose import conv_transpose_dilated, conv_transpose_polyphase

torch = pytest.importorskip("torch")


def test_polyphase_equals_torch_and_the_dilated_reference():
    rng = np.random.default_rng(0)
    cases = 0
    # BeautyGAN's (4, 2, 1), odd kernels, output padding, stride 3, stride 1, kernel 1
    for k, s, p, op, h in ((4, 2, 1, 0, 5), (3, 2, 1, 1, 4), (5, 3, 2, 2, 3), (4, 3, 0, 1, 4), (3, 1, 1, 0, 4),
                           (1, 2, 0, 1, 3), (5, 2, 0, 0, 3)):
        x = rng.standard_normal((2, h, h + 1, 3)).astype(np.float32)
        w = rng.standard_normal((k, k, 4, 3)).astype(np.float32)  # (kh, kw, out, in)
        args = ((s, s), (p, p), (op, op))
        got = np.asarray(jax.jit(lambda a, b: conv_transpose_polyphase(a, b, *args))(x, w))
        ref = np.asarray(jax.jit(lambda a, b: conv_transpose_dilated(a, b, *args))(x, w))
        want = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(w.transpose(3, 2, 0, 1).copy()),
            stride=s, padding=p, output_padding=op).numpy().transpose(0, 2, 3, 1)
        assert got.shape == want.shape, (k, s, p, op, h)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=str((k, s, p, op, h)))
        np.testing.assert_allclose(ref, want, atol=1e-4)
        cases += 1
    assert cases == 7

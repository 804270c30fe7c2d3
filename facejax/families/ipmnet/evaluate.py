"""IPM-Net's row of its Table 2 (the shared protocol, facejax/metrics/makeup_protocol.py): transfer = test.py's
inference on (source with its mask and texture, reference), from the trained generator (the original keeps no EMA)."""

from __future__ import annotations

from facejax.metrics.makeup_protocol import FamilyEvaluator, validate

__all__ = ["PUBLISHED", "Evaluator", "validate"]

# What IPM-Net's Table 2 reports on MT (makeup.md 2.8): (method, FID, LPIPS).
PUBLISHED = (
    ("BeautyGAN (IPM-Net Table 2, Honlan's model, 256 px MT)", 56.57, 0.459),
    ("IPM-Net (IPM-Net Table 2)", 41.47, 0.488),
)


class Evaluator(FamilyEvaluator):
    """evaluate(state, step, out_dir): every non-makeup eval face with a random makeup reference, FID and LPIPS, mean
    of config.eval.runs runs, from state.params["G"]."""

    def __init__(self, family, mesh=None, *, features=None):
        super().__init__(
            family,
            mesh,
            name="IPM-Net (facejax)",
            published=PUBLISHED,
            features=features,
            protocol="IPM-Net Table 2: every non-makeup eval face with a random makeup reference, mean of runs",
        )

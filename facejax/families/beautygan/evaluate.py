"""BeautyGAN's row of the makeup-transfer table (IPM-Net's Table 2 protocol, facejax/metrics/makeup_protocol.py):
transfer = G's makeup head on (source, reference), from the trained generator (the original keeps no EMA)."""

from __future__ import annotations

from facejax.metrics.makeup_protocol import FamilyEvaluator, MakeupTransferEvaluator, table, validate

__all__ = ["PUBLISHED", "Evaluator", "MakeupTransferEvaluator", "table", "validate"]

# What IPM-Net's Table 2 reports on MT (makeup.md 2.8): (method, FID, LPIPS).
PUBLISHED = (
    ("BeautyGAN (IPM-Net Table 2, Honlan's model, 256 px MT)", 56.57, 0.459),
    ("IPM-Net (IPM-Net Table 2)", 41.47, 0.488),
)


class Evaluator(FamilyEvaluator):
    """evaluate(state, step, out_dir): BeautyGAN's row, transfer = G's makeup head on (source, reference)."""

    def __init__(self, family, mesh=None, *, features=None):
        super().__init__(
            family,
            mesh,
            name="BeautyGAN (facejax)",
            published=PUBLISHED,
            features=features,
            protocol="IPM-Net Table 2: every non-makeup eval face with a random makeup reference, mean of runs",
        )

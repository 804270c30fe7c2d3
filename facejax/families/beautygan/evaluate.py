"""BeautyGAN's row of IPM-Net's Table 2: the shared protocol (facejax/metrics/makeup_protocol.py) with
transfer = G's makeup head on (source, reference), from the trained generator (the original keeps no EMA)."""

from __future__ import annotations

from facejax.metrics.makeup_protocol import MakeupTransferEvaluator, table, validate

__all__ = ["Evaluator", "MakeupTransferEvaluator", "table", "validate"]


class Evaluator(MakeupTransferEvaluator):
    """BeautyGAN's row: transfer = G's makeup head on (source, reference). evaluate(state, step, out_dir) reads
    state.params["G"]."""

    def __init__(self, family, mesh=None, *, features=None):
        validate(family.config)
        e = family.config.eval
        cap = max(e.max_sources, e.max_references) if e.max_sources and e.max_references else 0
        faces = lambda: family.eval_faces(cap)  # noqa: E731
        super().__init__(family.config, family.transfer, faces, mesh, name="BeautyGAN (facejax)", features=features)

    def __call__(self, state, step: int, out_dir) -> dict:
        return super().__call__({"G": state.params["G"]}, step, out_dir)

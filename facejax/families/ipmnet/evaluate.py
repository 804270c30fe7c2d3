"""IPM-Net's row of its Table 2: the shared protocol (facejax/metrics/makeup_protocol.py) with transfer = test.py's
inference on (source with its mask and texture, reference), from the trained generator (the original keeps no EMA)."""

from __future__ import annotations

from facejax.metrics.makeup_protocol import MakeupTransferEvaluator, validate


class Evaluator(MakeupTransferEvaluator):
    """evaluate(state, step, out_dir): every non-makeup eval face with a random makeup reference, FID and LPIPS, mean
    of config.eval.runs runs, from state.params["G"]."""

    def __init__(self, family, mesh=None, *, features=None):
        validate(family.config)
        e = family.config.eval
        cap = max(e.max_sources, e.max_references) if e.max_sources and e.max_references else 0
        super().__init__(family.config, family.transfer, lambda: family.eval_faces(cap), mesh,
                         name="IPM-Net (facejax)", features=features)

    def __call__(self, state, step: int, out_dir) -> dict:
        return super().__call__({"G": state.params["G"]}, step, out_dir)

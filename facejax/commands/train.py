"""facejax train --config=... --workdir=DIR: train, resuming from the newest checkpoint in DIR.

Run under launch/local.sh, slurm.sbatch or tpu_vm.sh, every process runs this same command; they
find each other through the environment (facejax/train/distributed.py)."""

import os

from facejax.commands import common

HELP = "train in --workdir (resumes from its newest checkpoint)"
NEEDS_CONFIG = True


def main(config, args):
    del args
    from facejax.train import distributed

    distributed.initialize()  # several processes (launch/*): before any JAX work
    from facejax.train import trainer

    workdir = common.require(common.WORKDIR, "workdir")
    state = trainer.train(config, workdir)
    import jax

    if jax.process_index() > 0:
        return
    step = int(jax.device_get(state.step))
    sample_dir = os.path.join(workdir, "samples")
    samples = sorted(os.listdir(sample_dir)) if os.path.isdir(sample_dir) else []
    print(f"trained to step {step}; checkpoints in {os.path.join(workdir, 'checkpoints')}")
    if samples:
        print(f"latest samples: {os.path.join(sample_dir, samples[-1])}")

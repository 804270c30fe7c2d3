"""TensorFlow never claims accelerator memory in a facejax process (issue 22 item 3): importing facejax (as the CLI
does at start-up) hides GPU and TPU from TensorFlow right after TensorFlow's import, or at once where TensorFlow came
first, and a command that does not use TensorFlow does not import it. On a CPU-only machine TensorFlow has no GPU to
hide; facejax.train.distributed.tensorflow_hidden() tells that the hiding ran."""

import pathlib
import subprocess
import sys

import pytest
from tests import xla_env

REPO = pathlib.Path(__file__).resolve().parents[1]

CHECK = """
from facejax.train import distributed
assert distributed.tensorflow_hidden(), "facejax did not hide the accelerators from TensorFlow"
assert tf.config.get_visible_devices("GPU") == [] and tf.config.get_visible_devices("TPU") == []
assert {d.device_type for d in tf.config.get_visible_devices()} == {"CPU"}, tf.config.get_visible_devices()
tf.constant(1.0) + 1.0  # TensorFlow still runs, on the host
print("hidden")
"""

ORDERS = {
    "cli_first": """
import sys
import facejax.cli
assert "tensorflow" not in sys.modules, "facejax.cli imported TensorFlow at start-up"
import tensorflow as tf
""",
    "tensorflow_first": """
import tensorflow as tf
import facejax.cli
""",
    "through_tfds": """
import facejax.cli
import tensorflow_datasets as tfds
assert "synthetic_faces" in tfds.list_builders()
import tensorflow as tf
""",
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_tensorflow_sees_no_accelerator_in_a_facejax_process(order, tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", ORDERS[order] + CHECK],
        cwd=tmp_path,
        env=xla_env.env(1, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0 and res.stdout.strip().endswith("hidden"), res.stderr[-3000:]


def test_presets_and_config_commands_do_not_import_tensorflow():
    """The hiding costs nothing where TensorFlow is not needed: these commands import neither TensorFlow nor JAX."""
    code = (
        "import sys; from facejax import cli; "
        "sys.argv = ['facejax', 'config', '--config=stargan_v2:synthetic']; cli.run(); "
        "sys.argv = ['facejax', 'presets']; cli.run(); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'jax')); "
        "assert not heavy, heavy"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], env=xla_env.env(1, PYTHONPATH=str(REPO)), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]

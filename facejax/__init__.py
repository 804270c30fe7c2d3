"""facejax: JAX/Flax face-synthesis GANs.

Importing facejax stays cheap (no TensorFlow, TFDS or JAX import), yet `tfds.builder("afhq")` and the
other facejax datasets work after `import facejax`, whichever of facejax and tensorflow_datasets is
imported first:

  * if tensorflow_datasets is already imported, `facejax.datasets` (the TFDS builders in data/) is
    imported now;
  * otherwise an import hook imports `facejax.datasets` right after tensorflow_datasets finishes
    importing (once), so the builders are registered before any `tfds.builder` call can run.

Code that calls `tfds.builder` itself may also `import facejax.datasets` explicitly (the input
pipeline and `facejax prepare` do); that import is what registers the builders, the hook only makes
it automatic.

TensorFlow (tf.data, TFDS) only feeds the host, and must not claim GPU or TPU memory that JAX needs: in
every process that imports facejax (each command, the tests, a notebook) the same kind of hook hides the
accelerators from TensorFlow right after `import tensorflow` finishes, before any TensorFlow op can run
(facejax.train.distributed.hide_accelerators_from_tensorflow); where TensorFlow is already imported it
is done now. A command that never imports TensorFlow pays nothing for it.
"""

import importlib.abc
import importlib.util
import sys

_TFDS = "tensorflow_datasets"
_TF = "tensorflow"


def _register_datasets(module=None) -> None:
    import facejax.datasets  # noqa: F401  (registers facejax's TFDS builders)


def _hide_accelerators(module=None) -> None:
    from facejax.train import distributed

    distributed.hide_accelerators_from_tensorflow()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of module `name` so that `then(module)` runs once the module
    has executed, and removes itself then. A find_spec that does not import (`importlib.util.find_spec
    ("tensorflow")`, as etils asks whether TensorFlow is installed) leaves it in place for the real import."""

    def __init__(self, name, then):
        self.name, self.then = name, then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        spec = None
        for finder in sys.meta_path:  # the ordinary finders
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then(module):
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            exec_module(module)
            self.then(module)

        loader.exec_module = exec_then
        return spec


def _after_import(name, then) -> None:
    """then() now if `name` is imported, else right after its import (once per process)."""
    if name in sys.modules:
        then(sys.modules[name])
    elif not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, then))


_after_import(_TF, _hide_accelerators)
_after_import(_TFDS, _register_datasets)

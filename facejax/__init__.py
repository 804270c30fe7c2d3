"""facejax: JAX/Flax face-synthesis GANs.

Importing facejax stays cheap (no TensorFlow, TFDS or JAX import), yet `tfds.builder("afhq")` and the
other facejax datasets work after `import facejax`, whichever of facejax and tensorflow_datasets is
imported first:

  * if tensorflow_datasets is already imported, `facejax.datasets` (the TFDS builders in data/) is
    imported now;
  * otherwise a one-shot import hook imports `facejax.datasets` right after tensorflow_datasets
    finishes importing, so the builders are registered before any `tfds.builder` call can run.

Code that calls `tfds.builder` itself may also `import facejax.datasets` explicitly (the input
pipeline and `facejax prepare` do); that import is what registers the builders, the hook only makes
it automatic.
"""

import importlib.abc
import importlib.util
import sys

_TFDS = "tensorflow_datasets"


def _register_datasets() -> None:
    import facejax.datasets  # noqa: F401  (registers facejax's TFDS builders)


class _RegisterDatasetsAfterTfds(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps tensorflow_datasets' loader so that facejax.datasets is imported
    once tensorflow_datasets has executed. Removes itself on first use."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TFDS:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the ordinary finders
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register_datasets()

        loader.exec_module = exec_then_register
        return spec


if _TFDS in sys.modules:
    _register_datasets()
elif not any(isinstance(f, _RegisterDatasetsAfterTfds) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterDatasetsAfterTfds())

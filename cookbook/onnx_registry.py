"""The ONNX exporter's registry of translations, built once per zygote instead of once per export.

Every ``torch.onnx.export`` (and every conversion of an ``ExportedProgram``) starts by building
the registry that maps each ATen operator to its onnxscript translation:
``ONNXRegistry.from_torchlib`` re-reads and analyses about 500 onnxscript functions, the largest
single cost inside the ONNX recipes (``make bench`` and the profile in DEVELOPERS.md say how
much). What it builds depends only on the installed torch and onnxscript and on the opset, so
the zygotes (the harness's and the doc build's) build it once, before they fork, and every
recipe's process inherits it.

PyTorch offers no supported hook for this, so :func:`share_torchlib_registry` replaces one name,
``torch.onnx._internal.exporter._registration.ONNXRegistry.from_torchlib``, in the zygote only.
The replacement hands each call **its own copy** (a new registry whose operator lists are new
lists holding the same translation records): an export then adds its ``custom_translation_table``
to its copy, as it would to a registry it built, and the next export starts from the shared,
untouched one. A recipe's output does not change, except that the zygote, not the recipe, logs
what building the registry logs (torch's "torchvision is not installed. Skipping ..." warnings,
which no page shows). ``tests/test_onnx_registry.py`` holds the copy to a freshly built
registry and fails, naming the internal, when an upgrade moves one of :data:`INTERNALS`.
"""

from __future__ import annotations

import logging
import sys

#: What this module relies on in torch's exporter, and why: a missing one fails loudly here.
INTERNALS = {
    "torch.onnx._internal.exporter._registration.ONNXRegistry.from_torchlib":
        "the classmethod that every export calls to build its registry (replaced in the zygote)",
    "torch.onnx._internal.exporter._registration.ONNXRegistry.functions":
        "the registry's table {operator: [translations]}, copied list by list for each export",
    "torch.onnx._internal.exporter._registration.ONNXRegistry._opset_version":
        "the opset the registry was built for, carried over to each copy",
    "torch.onnx._internal.exporter._constants.TORCHLIB_OPSET":
        "the opset of from_torchlib() called without one: built in the zygote",
    "torch.onnx._constants.ONNX_DEFAULT_OPSET":
        "the opset torch.onnx.export asks the registry for by default: built in the zygote",
}

_REGISTRATION = "torch.onnx._internal.exporter._registration"
#: Registries built in this process, by opset: never handed out, only copied.
_built: dict[int, object] = {}
#: torch's own ``from_torchlib`` (its function, called with the class), once it is replaced.
_original = None


class RegistryInternalsChanged(RuntimeError):
    """torch's exporter no longer has a name that :data:`INTERNALS` lists."""


def _registration():
    __import__(_REGISTRATION)
    return sys.modules[_REGISTRATION]


def check_internals() -> None:
    """Raise :class:`RegistryInternalsChanged` naming the first internal of :data:`INTERNALS` that
    this torch lacks (a registry is built to see its attributes)."""
    registration = _registration()
    registry_class = getattr(registration, "ONNXRegistry", None)
    if registry_class is None or not callable(getattr(registry_class, "from_torchlib", None)):
        raise RegistryInternalsChanged(_missing(f"{_REGISTRATION}.ONNXRegistry.from_torchlib"))
    for name in ("torch.onnx._internal.exporter._constants.TORCHLIB_OPSET", "torch.onnx._constants.ONNX_DEFAULT_OPSET"):
        module, attribute = name.rsplit(".", 1)
        if not isinstance(getattr(sys.modules.get(module) or __import__(module, fromlist=[attribute]), attribute, None), int):
            raise RegistryInternalsChanged(_missing(name))
    probe = registry_class()
    for attribute in ("functions", "_opset_version"):
        if not hasattr(probe, attribute):
            raise RegistryInternalsChanged(_missing(f"{_REGISTRATION}.ONNXRegistry.{attribute}"))


def _missing(name: str) -> str:
    return (f"{name} is gone from this torch ({INTERNALS[name]}): update cookbook/onnx_registry.py, "
            "or stop sharing the registry")


def copy_of(registry):
    """A registry that holds the same translations as ``registry`` in lists of its own."""
    copy = type(registry)()
    copy._opset_version = registry._opset_version
    copy.functions = {target: list(translations) for target, translations in registry.functions.items()}
    return copy


def share_torchlib_registry() -> bool:
    """In a zygote, after torch.onnx is imported: build the registry for the default opsets now
    (:func:`_prebuilt_opsets`), quietly, and make every later ``ONNXRegistry.from_torchlib(opset)`` of this process and of its
    children return a copy of the one built for that opset (built on first use for another
    opset). Returns False, changing nothing, where torch.onnx was not imported."""
    if "torch.onnx" not in sys.modules:
        return False
    check_internals()
    global _original
    registry_class = _registration().ONNXRegistry
    if getattr(registry_class.from_torchlib, "__cookbook_shared__", False):
        return True
    build = _original = registry_class.from_torchlib.__func__

    def from_torchlib(cls, opset_version=None):
        if opset_version is None:
            opset_version = _default_opset()
        if opset_version not in _built:
            _built[opset_version] = _original(cls, opset_version=opset_version)
        return copy_of(_built[opset_version])

    from_torchlib.__cookbook_shared__ = True
    from_torchlib.__doc__ = build.__doc__
    # Building logs one warning per torchvision operator when torchvision is missing: here, once,
    # in the zygote, where it would reach the build's console; a recipe never sees it.
    logger = logging.getLogger(_REGISTRATION)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for opset in _prebuilt_opsets():
            _built[opset] = build(registry_class, opset_version=opset)
    finally:
        logger.setLevel(level)
    registry_class.from_torchlib = classmethod(from_torchlib)
    return True


def _default_opset() -> int:
    """The opset of ``from_torchlib()`` called without one (the exporter's internal default)."""
    from torch.onnx._internal.exporter import _constants

    return _constants.TORCHLIB_OPSET


def _prebuilt_opsets() -> tuple[int, ...]:
    """The opsets built in the zygote: ``from_torchlib``'s default, and the one
    ``torch.onnx.export`` asks for when given no ``opset_version`` (a registry is built per opset)."""
    from torch.onnx import _constants

    return tuple(dict.fromkeys((_default_opset(), _constants.ONNX_DEFAULT_OPSET)))

"""What a recipe is: where recipes live, how they are found, their title, what they may import."""

from __future__ import annotations

import ast
import functools
import gc
import os
import re
from pathlib import Path

from cookbook import RECIPES_DIR
from cookbook.environment import DOCUMENTED_PACKAGES, MODEL_LIBRARIES
from cookbook.onnx_registry import share_torchlib_registry

#: What a recipe may import besides the standard library: a downloaded notebook needs only these.
RECIPE_PACKAGES = DOCUMENTED_PACKAGES + ("numpy",)
#: What the recipes of one section may import besides :data:`RECIPE_PACKAGES` (pinned in
#: requirements-docs.txt): ``{section folder: (package, ...)}``. Such a recipe's notebook installs
#: them too (:func:`cookbook.site.notebooks.add_section_packages`), and a zygote imports them (and
#: :data:`SECTION_PRELOADS`) only when a recipe that needs them runs.
SECTION_PACKAGES = {"transformers": MODEL_LIBRARIES}
#: What a zygote imports for a recipe that imports a package of :data:`SECTION_PACKAGES`
#: (``{package: modules}``): the package, and the modules its models import lazily (about 4 s for transformers' model code).
SECTION_PRELOADS = {
    "transformers": (
        "transformers",
        "transformers.modeling_utils",
        "transformers.cache_utils",
        "transformers.masking_utils",
        "transformers.integrations.executorch",
        "transformers.models.llama.modeling_llama",
        "transformers.models.bert.modeling_bert",
        "transformers.models.whisper.modeling_whisper",
        "transformers.models.vit.modeling_vit",
    ),
}
#: Modules that a zygote (the harness's, the doc build's) imports once, so that each recipe it forks
#: starts warm: the packages, then what the first ``torch.export.export`` and ``torch.onnx.export`` of
#: a process import lazily. Importing registers nothing a recipe could see (the one piece of work,
#: the ONNX exporter's registry, is :mod:`cookbook.onnx_registry`'s); a name missing from
#: another torch is skipped. To find what recipes still import lazily (the lists below were taken on
#: torch 2.15.0), compare ``sys.modules`` at the end of each recipe's child with the zygote's.
EXPORT_PRELOADS = ("torch", "numpy") + (
    # torch.export.export (every recipe)
    "torch.export",
    "torch.export._trace",
    "torch.export._patches",
    "torch._dynamo",
    "torch._export.passes",
    "torch._export.passes._node_metadata_hook",
    "torch._export.passes.replace_autocast_with_hop_pass",
    "torch._export.passes.replace_set_grad_with_hop_pass",
    "torch._export.non_strict_utils",
    "torch._export.serde.serialize",
    "torch._functorch.aot_autograd",
    "torch._inductor.codecache",
    "torch._inductor.compiler_bisector",
    "torch._inductor.fx_passes.dedupe_symint_uses",
    "torch._inductor.sizevars",
    "torch._subclasses.schema_check_mode",
    "torch.fx.experimental.validator",
    "sympy.combinatorics",
    "sympy.tensor.tensor",
    "networkx",
    "numpy.testing",
)
#: What ``torch.onnx.export`` imports lazily (the recipes that export to ONNX); importing
#: ``torch.onnx`` also makes :func:`preload_recipe_modules` build the exporter's registry.
ONNX_PRELOADS = (
    "onnx",
    "onnxscript",
    "onnxruntime",
    "torch.onnx",
    "torch.onnx._internal.exporter._compat",
    "torch.onnx._internal.exporter._torchlib.ops",
    "onnxscript._framework_apis.torch_2_11",
    "onnxscript.function_libs.torch_lib.ops",
    "onnxscript.evaluator",
    "onnxscript.optimizer",
    "onnxscript.rewriter",
    "onnxscript.rewriter.onnx_fusions",
)
PRELOADED_MODULES = EXPORT_PRELOADS + ONNX_PRELOADS
#: The packages and the attribute whose use in a recipe makes it an ONNX recipe (:func:`exports_to_onnx`).
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


def allowed_packages(section: str) -> tuple[str, ...]:
    """What a recipe of ``section`` may import besides the standard library."""
    return RECIPE_PACKAGES + SECTION_PACKAGES.get(section, ())


def section_packages_imported(tree: ast.AST) -> tuple[str, ...]:
    """The packages of :data:`SECTION_PACKAGES` that a recipe imports, in a stable order."""
    extra = {package for packages in SECTION_PACKAGES.values() for package in packages}
    return tuple(sorted({name.split(".")[0] for _, name, level in imports_of(tree) if not level} & extra))


def exports_to_onnx(tree: ast.AST) -> bool:
    """Whether a recipe imports an ONNX package or uses ``torch.onnx``."""
    if any(name.split(".")[0] in ONNX_PACKAGES for _, name, _ in imports_of(tree)):
        return True
    return any(isinstance(node, ast.Attribute) and node.attr == "onnx" and isinstance(node.value, ast.Name)
               and node.value.id == "torch" for node in ast.walk(tree))


def section_preloads(tree: ast.AST) -> tuple[str, ...]:
    """What a zygote imports, beyond :data:`PRELOADED_MODULES`, before it forks this recipe's process."""
    return tuple(name for package in section_packages_imported(tree) for name in SECTION_PRELOADS.get(package, ()))


#: What a zygote sets in its environment before it imports :data:`PRELOADED_MODULES` (a value set
#: already is kept): outside CI, onnxruntime (1.29 and later) starts a telemetry thread when it is
#: imported, which every few seconds starts threads of its own (an HTTPS client to Microsoft's
#: collector and its DNS lookups) and writes an SQLite file under ``~/.cache``. In a zygote, that
#: is a thread whose locks each fork copies in whatever state they are, and network access from
#: the build (which :mod:`cookbook.network` guards in Python only). ``tests/test_forks.py``.
ZYGOTE_ENVIRONMENT = {"ORT_DISABLE_TELEMETRY": "1"}


def preload_recipe_modules(names: tuple[str, ...] = PRELOADED_MODULES) -> None:
    """Import ``names`` (a name missing from this torch, or that fails to import with it, is skipped),
    with :data:`ZYGOTE_ENVIRONMENT` set (also for what the recipes import later).

    The garbage collector is off while they import, then one full collection frees what the
    imports left behind, and the collector is as it was. Importing builds a heap that only grows,
    so each collection during the imports walks it for little garbage (the measured gain is in
    DEVELOPERS.md's performance note)."""
    for variable, value in ZYGOTE_ENVIRONMENT.items():
        os.environ.setdefault(variable, value)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in names:
            try:
                __import__(name)
            except Exception:  # noqa: BLE001 - a package that does not work with this torch (transformers
                pass           # on an old release) is left to the recipe that imports it, which reports it
        # What every ONNX export would build again: once here, copied for each export (only for a
        # zygote whose recipes export to ONNX: torch.export alone imports torch.onnx too).
        if "torch.onnx" in names:
            share_torchlib_registry()
    finally:
        gc.collect()
        if enabled:
            gc.enable()


#: A recipe's title: the first line of its docstring underlined with ``=`` (at least as long as
#: the title). sphinx-gallery reads the same title; the lint, the pages and the links use this rule.
TITLE = re.compile(r"^(?P<title>\S.*)\n(?P<line>=+)[ \t]*$", re.MULTILINE)
#: Helpers (functions and classes) copied into recipes on purpose (each recipe is standalone):
#: every copy of one of them is the same, name, signature and body (``make lint`` checks it).
SHARED_HELPERS = (
    "check_against_eager", "check_against_eager_with_kwargs", "onnx_session", "check_onnx_against_eager",
    "onnx_dims", "random_inputs", "runtime_asserts", "Recorder",
    # the transformers section: ONNX inputs fed by name
    "check_onnx_against_eager_by_name",
    # the models section's timing table
    "single_thread_session", "onnxruntime_call", "print_timings",
    # the DEBUG records of torch's dynamic-shapes log, collected off the page
    "shape_logs",
)
#: A recipe's file name (sphinx-gallery runs only ``plot_*`` files, see conf.py).
FILENAME = re.compile(r"plot_\w+\.py")


def discover_recipes(root: Path = RECIPES_DIR) -> list[Path]:
    """Every recipe of the gallery (``<root>/<section>/plot_*.py``), in a stable order."""
    return sorted(path for path in root.glob("*/plot_*.py") if FILENAME.fullmatch(path.name))


@functools.lru_cache(maxsize=None)
def parsed(source: str) -> ast.Module:
    """The syntax tree of a recipe's source, parsed once per process (a build reads each recipe for
    several pages). Shared: never change it (the runner parses its own copy to mark sentinels).

    A source that does not parse gives an empty tree: the build leaves it to sphinx-gallery, whose
    run of it fails with the SyntaxError, so the build fails naming the recipe and the line (as the
    harness and ``make lint`` do)."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def imports_of(tree: ast.AST) -> list[tuple[int, str, int]]:
    """Every import of a recipe: (line, module as written, level: 0 unless the import is relative)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", node.level))
    return found


def title_of(text: str, default: str = "") -> str:
    """The title of a recipe (or of a generated page), as plain text without inline-literal marks."""
    for match in TITLE.finditer(text):
        title = match.group("title").rstrip()
        if len(match.group("line")) >= len(title):
            return title.replace("``", "")
    return default


def section_of(recipe: Path) -> str:
    """The section folder's name of a recipe."""
    return Path(recipe).parent.name


def section_title(section: Path) -> str:
    """A section's title: the first line of its ``README.rst``."""
    return (section / "README.rst").read_text(encoding="utf-8").strip().splitlines()[0].strip()


def section_titles(recipes_dir: Path = RECIPES_DIR) -> dict[str, str]:
    """Each section folder's name (``data_dependent``) and its title, for the sections written so far."""
    return {readme.parent.name: section_title(readme.parent) for readme in sorted(recipes_dir.glob("*/README.rst"))}

"""The ONNX exporter's registry, built once in the zygote and copied for each export
(:mod:`cookbook.onnx_registry`): each export gets what a registry built for it would hold, an
export's ``custom_translation_table`` stays in its own copy, a recipe prints what
``python recipe.py`` prints, and an upgrade that moves an internal fails naming it.

The checks that need torch run as scripts in the harness (a fork of its warm zygote, where the
registry is shared), so that this process never imports torch."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from cookbook import RECIPES_DIR, REPO_ROOT
from cookbook.harness.runner import run_recipe


def run_script(tmp_path, body: str):
    script = tmp_path / "plot_registry_check.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    result = run_recipe(script)
    assert result.passed, result.report()
    return result


def test_each_export_gets_a_copy_of_what_a_fresh_registry_holds(tmp_path):
    run_script(tmp_path, """
        import torch
        from torch.onnx._internal.exporter import _registration
        import cookbook.onnx_registry as shared

        registry_class = _registration.ONNXRegistry
        assert registry_class.from_torchlib.__cookbook_shared__, "the zygote did not share the registry"
        fresh = shared._original(registry_class)
        copy = registry_class.from_torchlib()

        def table(registry):
            return {key: [(meta.onnx_function, meta.is_custom) for meta in metas] for key, metas in registry.functions.items()}

        assert table(copy) == table(fresh)
        assert copy.opset_version == fresh.opset_version

        # An export's custom translation stays in its copy: the next export starts clean.
        def custom(x):
            return x
        copy.register_op(torch.ops.aten.relu.default, custom)
        assert registry_class.from_torchlib().get_decomps(torch.ops.aten.relu.default)[0].onnx_function is not custom
        assert copy.get_decomps(torch.ops.aten.relu.default)[0].onnx_function is custom
    """)


def test_an_export_through_a_copy_gives_the_model_a_fresh_registry_gives(tmp_path):
    run_script(tmp_path, """
        import torch
        from torch.onnx._internal.exporter import _registration
        import cookbook.onnx_registry as shared

        class Model(torch.nn.Module):
            def forward(self, x):
                return torch.relu(x) * x.shape[0]

        def export():
            batch = torch.export.Dim("batch")
            program = torch.onnx.export(Model(), (torch.ones(3, 4),), dynamic_shapes=({0: batch},), dynamo=True)
            return program.model_proto.SerializeToString()

        built = []
        build = shared._original
        shared._original = lambda *args, **kwargs: built.append(kwargs) or build(*args, **kwargs)
        shared_model = export()
        assert not built, f"an export with the default opset built a registry of its own: {built}"
        shared._original = build
        _registration.ONNXRegistry.from_torchlib = classmethod(shared._original)  # as python recipe.py builds it
        assert export() == shared_model
    """)


def test_a_moved_internal_fails_naming_it(tmp_path):
    run_script(tmp_path, """
        import contextlib
        import sys

        from torch.onnx._internal.exporter import _registration
        import cookbook.onnx_registry as shared

        @contextlib.contextmanager
        def hidden(name):
            \"\"\"``name`` gone, as an upgrade that moved it would leave torch.\"\"\"
            owner, attribute = name.rsplit(".", 1)
            if not owner.endswith("ONNXRegistry"):  # a module's constant
                module = sys.modules[owner]
                saved = getattr(module, attribute)
                delattr(module, attribute)
                try:
                    yield
                finally:
                    setattr(module, attribute, saved)
                return
            saved = _registration.ONNXRegistry
            class Moved(saved):
                pass
            if attribute == "from_torchlib":
                Moved.from_torchlib = None
            else:
                def init(self, _attribute=attribute, _init=saved.__init__):
                    _init(self)
                    delattr(self, _attribute)
                Moved.__init__ = init
            _registration.ONNXRegistry = Moved
            try:
                yield
            finally:
                _registration.ONNXRegistry = saved

        for name in shared.INTERNALS:
            with hidden(name):
                try:
                    shared.check_internals()
                except shared.RegistryInternalsChanged as error:
                    assert name in str(error), (name, str(error))
                else:
                    raise AssertionError(f"check_internals() did not notice that {name} moved")
    """)


#: A torch log line (``W1203 07:40:13.446000 4905 path:107] ...``): what the zygote's one registry
#: build says instead of each recipe; no page shows them.
TORCH_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ .*$\n?", re.MULTILINE)
#: The recipe that changes its registry (custom_translation_table) and exports several times.
EQUIVALENT = RECIPES_DIR / "onnx" / "plot_onnx_custom_op_translation.py"


@pytest.mark.reads_named_recipes
def test_a_recipe_prints_what_python_recipe_py_prints(tmp_path):
    harnessed = run_recipe(EQUIVALENT)
    assert harnessed.passed, harnessed.report()
    env = {key: value for key, value in os.environ.items() if not key.startswith("COOKBOOK_")}
    fresh = subprocess.run([sys.executable, str(EQUIVALENT)], cwd=tmp_path, capture_output=True, text=True, env=env,
                           timeout=300)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert harnessed.stdout == fresh.stdout.replace(str(REPO_ROOT) + "/", "")
    assert TORCH_LOG_LINE.sub("", harnessed.stderr) == TORCH_LOG_LINE.sub("", fresh.stderr.replace(str(REPO_ROOT) + "/", ""))


def test_the_build_zygote_imports_the_onnx_exporter_only_for_recipes_that_export_to_onnx(tmp_path):
    """A build that runs one edited recipe waits for its zygote's imports: a recipe that never
    exports to ONNX does not wait for the exporter, nor for its registry."""
    from cookbook.recipes import EXPORT_PRELOADS, ONNX_PRELOADS, exports_to_onnx, parsed
    from cookbook.site.recipe_pool import _zygote_imports

    sources = {
        "plot_export.py": "import torch\ntorch.export.export\n",
        "plot_attribute.py": "import torch\ntorch.onnx.export\n",
        "plot_runtime.py": "import torch\nimport onnxruntime as ort\n",
        "plot_no_torch.py": "import math\n",
    }
    paths = {}
    for name, source in sources.items():
        paths[name] = tmp_path / name
        paths[name].write_text(source)
    assert [exports_to_onnx(parsed(source)) for source in sources.values()] == [False, True, True, False]
    assert _zygote_imports([paths["plot_export.py"]]) == EXPORT_PRELOADS
    assert "torch.onnx" not in EXPORT_PRELOADS  # so preload_recipe_modules builds no registry for it
    assert _zygote_imports([paths["plot_export.py"], paths["plot_attribute.py"]]) == EXPORT_PRELOADS + ONNX_PRELOADS
    assert set(_zygote_imports([paths["plot_runtime.py"]])) >= set(ONNX_PRELOADS)
    assert _zygote_imports([paths["plot_no_torch.py"]]) == ()


def test_the_registry_is_built_only_where_the_onnx_exporter_is_preloaded():
    code = textwrap.dedent("""
        from cookbook.recipes import EXPORT_PRELOADS, ONNX_PRELOADS, preload_recipe_modules
        from cookbook import onnx_registry
        import torch.onnx._internal.exporter._registration as registration
        preload_recipe_modules(EXPORT_PRELOADS)
        print(getattr(registration.ONNXRegistry.from_torchlib, "__cookbook_shared__", False))
        preload_recipe_modules(EXPORT_PRELOADS + ONNX_PRELOADS)
        print(getattr(registration.ONNXRegistry.from_torchlib, "__cookbook_shared__", False))
    """)
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert process.stdout.split() == ["False", "True"], process.stderr[-2000:]

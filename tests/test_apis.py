"""The "Recipes by API" page: every public torch.export / torch.onnx name a recipe calls is on it,
however the recipe spells it, and the names in a recipe's code link to their entries."""

import io
import re
import tokenize

import pytest

from cookbook import HTML_DIR, RECIPES_DIR
from cookbook.recipes import discover_recipes
from cookbook.site.apis import anchor, api_uses, collect, link_names_in_code

SOURCE = """
import torch
import torch.export as tex
from torch.export import Dim, ShapesCollection as SC

D = torch.export.Dim
spec = {"x": {0: Dim.AUTO, 1: D("n", min=2)}, "y": {0: tex.Dim.DYNAMIC}}
shapes = SC()
ep = torch.export.export(model, (x,), dynamic_shapes=spec)
program = ep.module()
torch._check(x.shape[0] > 1)
onnx_program = torch.onnx.export(model, (x,), dynamo=True)
"""


def test_names_are_resolved_through_imports_and_aliases():
    uses = api_uses(SOURCE)
    assert uses.names == {
        "torch.export.Dim", "torch.export.Dim.AUTO", "torch.export.Dim.DYNAMIC", "torch.export.ShapesCollection",
        "torch.export.export", "torch._check", "torch.onnx.export",
    }
    assert uses.spellings["Dim.AUTO"] == "torch.export.Dim.AUTO"
    assert uses.spellings["D"] == "torch.export.Dim"
    assert uses.spellings["SC"] == "torch.export.ShapesCollection"
    assert "ep.module" not in uses.spellings  # a method of a result: not resolved, not listed


def test_shapes_spec_and_the_marking_apis_are_listed_without_python_attributes():
    uses = api_uses("""
import torch
from torch.fx.experimental.dynamic_spec import ShapesSpec, ShapeVar
print(ShapesSpec.__module__, torch.export.export.__doc__.split())
torch._dynamo.mark_dynamic(x, 0)
torch._dynamo.decorators.mark_unbacked(x, 0)
torch.compile(f, dynamic_shapes=ShapesSpec({}))
""")
    assert uses.names == {
        "torch.fx.experimental.dynamic_spec.ShapesSpec",
        "torch.export.export", "torch._dynamo.mark_dynamic", "torch._dynamo.decorators.mark_unbacked", "torch.compile",
    }
    assert "ShapesSpec.__module__" not in uses.spellings


def test_transformers_names_are_resolved_and_other_libraries_are_not():
    uses = api_uses("""
from transformers import LlamaConfig, LlamaForCausalLM as Llama
import transformers.integrations.executorch as executorch
import numpy as np

model = Llama(LlamaConfig())
executorch.register_dynamic_cache_export_support()
np.zeros(3)
""")
    assert uses.names == {
        "transformers.LlamaConfig", "transformers.LlamaForCausalLM",
        "transformers.integrations.executorch.register_dynamic_cache_export_support",
    }
    assert uses.spellings["Llama"] == "transformers.LlamaForCausalLM"


def code_only(source: str) -> str:
    """The recipe's code without its prose (comments, docstrings and other strings)."""
    kept = [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type in (tokenize.NAME, tokenize.OP, tokenize.NEWLINE, tokenize.NL)]
    return re.sub(r" ?\. ?", ".", " ".join(kept)).replace(" \n ", "\n")


def written_names(source: str) -> set[str]:
    """The public torch.export / torch.onnx names a recipe's code writes out in full or imports by
    name (found in the token stream, independently of the AST pass)."""
    source = code_only(source)
    names = {match.group(0) for match in re.finditer(r"\btorch\.(?:export|onnx)(?:\.[A-Za-z]\w*)+", source)}
    for module, imported in re.findall(r"^\s*from (torch\.(?:export|onnx)) import ([\w, ]+?)\s*$", source, re.MULTILINE):
        names.update(f"{module}.{name.split(' as ')[0].strip()}" for name in imported.split(","))
    modules = {"torch.export.dynamic_shapes"}
    return {name for name in names if name not in modules}


@pytest.mark.parametrize("recipe", discover_recipes(), ids=lambda path: str(path.relative_to(RECIPES_DIR)))
def test_every_name_a_recipe_writes_is_listed_with_that_recipe(recipe):
    found = collect(RECIPES_DIR)
    for name in written_names(recipe.read_text()):
        assert recipe in found.get(name, []), f"{name} (used by {recipe.name}) is missing from the APIs page"


def test_names_in_highlighted_code_link_to_their_entry():
    body = ('<span class="n">spec</span> <span class="o">=</span> <span class="n">Dim</span><span class="o">.</span>'
            '<span class="n">AUTO</span> <span class="n">Dim</span>')
    linked = link_names_in_code(body, {"Dim.AUTO": "torch.export.Dim.AUTO", "Dim": "torch.export.Dim"}, "../../apis.html")
    assert linked.count('<a class="cookbook-api"') == 2
    assert f'href="../../apis.html#{anchor("torch.export.Dim.AUTO")}"' in linked
    assert f'href="../../apis.html#{anchor("torch.export.Dim")}"' in linked
    assert "spec" in linked and 'cookbook-api" href="../../apis.html#api-torch-export-dim-auto" title' in linked


@pytest.mark.reads_named_recipes
@pytest.mark.needs_site
def test_the_built_apis_page_has_an_entry_for_every_name_and_recipe_pages_link_to_it():
    page = (HTML_DIR / "apis.html").read_text()
    for name in collect(RECIPES_DIR):
        assert f'id="{anchor(name)}"' in page, name
    recipe_page = (HTML_DIR / "auto_recipes" / "constraints" / "plot_dx_plus_dy.html").read_text()
    assert f'href="../../apis.html#{anchor("torch.export.export")}"' in recipe_page

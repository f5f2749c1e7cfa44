"""The "Recipes by API" page, and links from the code of every recipe page to it.

An AST pass over each recipe finds the PyTorch names it uses, however it spells them: through
``torch.export.export``, an import (``from torch.export import Dim``) or an alias
(``Dim = torch.export.Dim``), so ``Dim.AUTO`` counts as ``torch.export.Dim.AUTO``. Only the names
of the APIs the cookbook is about count (:data:`FAMILIES`), and every name of transformers the
recipes of its section import (``from transformers import LlamaForCausalLM`` is
``transformers.LlamaForCausalLM``); a private one (a part starting with ``_``) is listed as such.
"""

from __future__ import annotations

import ast
import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from cookbook.recipes import discover_recipes, parsed, section_of, title_of
from cookbook.site.rst import gallery_label, literal, ref
from cookbook.site.source_cache import kept_across_builds

#: The families of names the page lists (a name counts when it is one of these or under one).
FAMILIES = (
    "torch.export", "torch.onnx", "torch.cond", "torch._check", "torch._check_is_size", "torch.sym_int",
    "torch.sym_max", "torch.sym_min", "torch.sym_not", "torch.sym_ite", "torch.sym_float", "torch._dynamo.exc",
    "torch.fx.experimental.symbolic_shapes", "torch.utils._pytree", "torch._higher_order_ops", "torch.compiler",
    "torch._inductor", "torch._export", "torch._logging",
    # ShapesSpec (experimental in 2.15), torch.compile, and the marking APIs that relate to it
    "torch.fx.experimental.dynamic_spec", "torch.compile", "torch._dynamo.mark_dynamic",
    "torch._dynamo.maybe_mark_dynamic", "torch._dynamo.decorators.mark_unbacked",
    "transformers",
)
#: The packages whose names a recipe's imports resolve (the others are not APIs of this page).
ROOTS = frozenset({"torch", "transformers"})
#: The families that are modules, not APIs themselves.
MODULES = frozenset({
    "torch.export", "torch.export.dynamic_shapes", "torch.onnx", "torch._dynamo.exc",
    "torch.fx.experimental.symbolic_shapes", "torch.utils._pytree",
    "torch._higher_order_ops", "torch.compiler", "torch._inductor", "torch._export", "torch._logging",
    "torch.fx.experimental.dynamic_spec",
    "transformers", "transformers.integrations", "transformers.integrations.executorch",
})
#: PyTorch's documentation of each public family (a plain link: nothing is fetched at build time).
DOCS = {
    "torch.export": "https://docs.pytorch.org/docs/stable/export.html#{name}",
    "torch.onnx": "https://docs.pytorch.org/docs/stable/onnx_export.html#{name}",
    "torch.cond": "https://docs.pytorch.org/docs/stable/generated/torch.cond.html",
    "torch.compiler": "https://docs.pytorch.org/docs/stable/torch.compiler_api.html#{name}",
    "torch.compile": "https://docs.pytorch.org/docs/stable/generated/torch.compile.html",
}


def _in_family(name: str) -> bool:
    return any(name == family or name.startswith(family + ".") for family in FAMILIES)


def is_private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def anchor(name: str) -> str:
    return "api-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def docs_url(name: str) -> str | None:
    for family, url in DOCS.items():
        if name == family or name.startswith(family + "."):
            return url.format(name=name)
    return None


def _dotted(node: ast.AST) -> list[str] | None:
    """``["Dim", "AUTO"]`` for ``Dim.AUTO``; None when the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


@dataclass
class Uses:
    """The API names one recipe uses, and how it spells each (for the links in its code)."""

    names: set[str] = field(default_factory=set)
    spellings: dict[str, str] = field(default_factory=dict)  # "Dim.AUTO": "torch.export.Dim.AUTO"


@kept_across_builds
def api_uses(source: str) -> Uses:
    """The API names ``source`` uses (kept across builds: the page and the links of each recipe page
    read them). Shared: never change it."""
    tree = parsed(source)
    aliases: dict[str, str] = {}
    names: list[ast.AST] = []  # every name and attribute, in one walk of the tree
    inner: set[int] = set()  # the parts of a dotted name, which is taken whole
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ROOTS:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ROOTS and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, (ast.Attribute, ast.Name)):
            names.append(node)
            if isinstance(node, ast.Attribute):
                inner.add(id(node.value))
    for node in tree.body:  # module-level aliases: Dim = torch.export.Dim
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            parts = _dotted(node.value)
            if parts and parts[0] in aliases:
                aliases[node.targets[0].id] = ".".join([aliases[parts[0]], *parts[1:]])
    uses = Uses()
    for node in names:
        if id(node) in inner:
            continue  # only the whole of each dotted name
        parts = _dotted(node)
        if not parts or parts[0] not in aliases:
            continue
        resolved = [*aliases[parts[0]].split("."), *parts[1:]]
        # A dunder (``ShapesSpec.__module__``, ``export.__doc__.split``) is Python's, not an API:
        # the name ends before it.
        api_parts = next((i for i, part in enumerate(resolved) if part.startswith("__") and part.endswith("__")), len(resolved))
        for length in range(2, api_parts + 1):  # the name and every API it goes through
            name = ".".join(resolved[:length])
            if _in_family(name) and name not in MODULES:
                uses.names.add(name)
        full = ".".join(resolved)
        if api_parts == len(resolved) and _in_family(full) and full not in MODULES:
            uses.spellings[".".join(parts)] = full
    return uses


def collect(recipes_dir: Path) -> dict[str, list[Path]]:
    """``{api name: [recipes that use it]}``."""
    found = defaultdict(list)
    for recipe in discover_recipes(recipes_dir):
        for name in api_uses(recipe.read_text(encoding="utf-8")).names:
            found[name].append(recipe)
    return dict(found)


def render(found: dict[str, list[Path]]) -> str:
    lines = [
        ".. This page is generated from the recipes' code by cookbook/site/apis.py. Do not edit.",
        "",
        ".. _apis:",
        "",
        "Recipes by API",
        "==============",
        "",
        "Every PyTorch name of ``torch.export``, ``torch.onnx`` and their neighbours that a recipe calls, and",
        "every name of Hugging Face ``transformers`` the recipes of its section import, with the recipes",
        "that use it (found in their code, however they spell it: ``Dim.AUTO`` is ``torch.export.Dim.AUTO``).",
        "In a recipe's code, these names link here. Private names (a part that starts with ``_``) are listed",
        "apart: their library may change them without notice.",
        "",
    ]
    for title, names in (("Public APIs", sorted(n for n in found if not is_private(n))),
                         ("Private names the recipes rely on", sorted(n for n in found if is_private(n)))):
        lines += [title, "-" * len(title), ""]
        for name in names:
            lines += [f".. _{anchor(name)}:", "", literal(name), "~" * len(literal(name)), ""]
            url = docs_url(name)
            if url:
                lines += [f"PyTorch's documentation: `{name} <{url}>`__", ""]
            for recipe in sorted(found[name]):
                title_text = title_of(recipe.read_text(encoding="utf-8"), default=recipe.stem)
                lines.append(f"- {ref(title_text, gallery_label(section_of(recipe), recipe.name))}")
            lines.append("")
    return "\n".join(lines) + "\n"


def write_page(target: Path, recipes_dir: Path) -> int:
    found = collect(recipes_dir)
    content = render(found)
    if not target.exists() or target.read_text(encoding="utf-8") != content:
        target.write_text(content, encoding="utf-8")
    return len(found)


def _pygments_pattern(spelling: str) -> str:
    """The HTML pygments writes for a dotted name, as a regular expression."""
    parts = [rf'<span class="n[a-z]*">{re.escape(part)}</span>' for part in spelling.split(".")]
    return r'<span class="o">\.</span>'.join(parts)


def link_names_in_code(body: str, spellings: dict[str, str], to_apis_page: str) -> str:
    """Wrap each API name of the page's highlighted code in a link to its entry of the APIs page."""
    if not spellings:
        return body
    ordered = sorted(spellings, key=len, reverse=True)
    pattern = re.compile("|".join(f"(?P<n{i}>{_pygments_pattern(s)})" for i, s in enumerate(ordered)))

    def wrap(match: re.Match) -> str:
        spelling = ordered[int(match.lastgroup[1:])]
        target = f"{to_apis_page}#{anchor(spellings[spelling])}"
        return f'<a class="cookbook-api" href="{html.escape(target)}" title="{html.escape(spellings[spelling])}">{match.group(0)}</a>'

    return pattern.sub(wrap, body)

from django import template

from segments import builder

register = template.Library()


@register.simple_tag
def rule_builder_vm(rules_json, errors=None, optional=False):
    """The rule builder's view-model for a tree given as JSON text (or a dict) and its error messages.

    An empty tree starts with one blank rule, unless the rules are `optional` (then with none)."""
    tree = builder.tree_from_json(rules_json)
    if tree is not None and not tree.get("rules") and optional:
        tree = {"op": (tree.get("op") if tree.get("op") in ("and", "or") else "and"), "rules": []}
        return builder.builder_vm(tree=tree, errors=errors, optional=True)
    if tree is not None and not tree.get("rules"):
        tree = {"op": (tree.get("op") if tree.get("op") in ("and", "or") else "and"), "rules": [dict(builder.NEW_RULE)]}
        return builder.builder_vm(tree=tree, errors=errors, new_row="rb.rules.0")
    raw = rules_json if isinstance(rules_json, str) else ""
    return builder.builder_vm(tree=tree, raw_json=raw if tree is None else "", errors=errors)

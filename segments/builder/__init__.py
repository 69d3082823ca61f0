"""The visual rule builder: posted controls <-> rule tree (`controls`; shape in segments/rules/__init__.py),
its messages placed by row (`errors`), and what its template draws (`view_model`).

Every control of the builder is named by its path in the tree under the prefix "rb", e.g.
`rb.op`, `rb.rules.0.type`, `rb.rules.0.window.amount`, `rb.rules.1.rules.0.filters.2.value`;
multi-value controls end in "[]" (`rb.rules.0.events[]`). `tree_from_controls` turns posted
controls back into a tree; static/segments/rule_builder.js does the same in the browser to keep the
hidden `rules` input current. The only non-generic parts: a constant-property rule's second side is
posted as `side2` with its kind in `second` ("did_not" | "did_also"), and an aggregate whose
function is empty is dropped.
"""

from segments.builder.controls import NEW_RULE, PREFIX, apply_action, apply_change, tree_from_controls, tree_from_json
from segments.builder.errors import blank_row_labels, errors_by_row, row_ids, validation_errors, without_blank_rows
from segments.builder.view_model import Catalogue, builder_vm, filter_vm

__all__ = [
    "NEW_RULE",
    "PREFIX",
    "Catalogue",
    "apply_action",
    "apply_change",
    "blank_row_labels",
    "builder_vm",
    "errors_by_row",
    "filter_vm",
    "row_ids",
    "tree_from_controls",
    "tree_from_json",
    "validation_errors",
    "without_blank_rows",
]

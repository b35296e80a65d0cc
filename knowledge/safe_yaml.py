"""YAML as staff write it, without aliases: an anchor referenced by aliases can expand a few hundred bytes into
gigabytes ("billion laughs"), and no knowledge file needs one."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import Node, SequenceNode

ALIAS_REFUSED = "YAML aliases (*name) are not accepted: write the value out"


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops at the first alias instead of expanding it."""

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, ALIAS_REFUSED, event.start_mark)
        return super().compose_node(parent, index)  # type: ignore[arg-type]


def load_yaml(text: str) -> Any:
    """The data of one YAML document; `yaml.YAMLError` for invalid YAML or any alias."""
    loader = NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml_items(text: str) -> list[tuple[int, Any]]:
    """(line, data) of each item of a YAML list, lines 1-based: a mistake in one entry can be found in the file.
    `yaml.YAMLError` for invalid YAML or any alias, `TypeError` when the document is not a list."""
    loader = NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            raise TypeError(f"line {node.start_mark.line + 1}: expected a list of entries (- id: ...)")
        return [(item.start_mark.line + 1, loader.construct_document(item)) for item in node.value]
    finally:
        loader.dispose()


def yaml_mistake(exc: yaml.YAMLError) -> str:
    """What is wrong with a YAML text and on which line, for a staff member to fix."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1})" if mark else ""
    return f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"

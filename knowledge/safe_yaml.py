"""YAML as staff write it, without aliases: an anchor referenced by aliases can expand a few hundred bytes into
gigabytes ("billion laughs"), and no knowledge file needs one; and without a key written twice, which PyYAML would
silently resolve to the last value."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

ALIAS_REFUSED = "YAML aliases (*name) are not accepted: write the value out"


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops at the first alias instead of expanding it."""

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, ALIAS_REFUSED, event.start_mark)
        return super().compose_node(parent, index)  # type: ignore[arg-type]

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A key written twice is a mistake to show, not a value silently replaced by the last one."""
        first: dict[str, int] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                continue
            if key.value in first:
                problem = f"key '{key.value}' appears twice (first on line {first[key.value]})"
                raise yaml.constructor.ConstructorError(None, None, problem, key.start_mark)
            first[key.value] = key.start_mark.line + 1
        return super().construct_mapping(node, deep)


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


def yaml_mistake(exc: yaml.YAMLError, first_line: int = 1) -> str:
    """What is wrong with a YAML text and on which line of its file (the text starting on `first_line`)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + first_line})" if mark else ""
    return f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"


def key_line(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line of the key a validation error is about (its `loc`, the deepest part that exists), for the message."""
    node = yaml.compose(text)
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        children: dict[int | str, tuple[Node, Node]] = {}
        if isinstance(node, MappingNode):
            children = {key.value: (key, value) for key, value in node.value}
        elif isinstance(node, SequenceNode):
            children = {n: (item, item) for n, item in enumerate(node.value)}
        if part not in children:
            break
        key, node = children[part]
        line = key.start_mark.line + 1
    return line

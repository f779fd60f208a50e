"""Typed Python functions as tools: JSON schemas from signatures, checked calls.

A tool is a plain function with type hints and a Google-style docstring. :class:`ToolRegistry`
derives its schema in the OpenAI tools format
(``{"type": "function", "function": {"name", "description", "parameters"}}``): ``str`` →
``string``, ``int`` → ``integer``, ``float`` → ``number``, ``bool`` → ``boolean``,
``list[X]`` → ``array``, ``dict`` → ``object``, ``Literal[...]`` → ``enum``, ``X | None`` → ``X``;
parameters with a default are not required; the docstring's first paragraph is the description
and its ``Args:`` section describes the parameters. A parameter annotated :class:`ToolContext` is
injected by the env (episode-local state such as a calendar) and left out of the schema.

:meth:`ToolRegistry.call` checks arguments against the schema before running the tool (unknown,
missing or wrongly typed arguments raise :class:`ToolCallError`; ``int`` is accepted for
``number``) and turns any exception the tool raises into a :class:`ToolCallError`.
"""

from __future__ import annotations

import copy
import inspect
import re
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["Tool", "ToolCallError", "ToolContext", "ToolRegistry", "json_schema_for"]


class ToolCallError(Exception):
    """A tool call that could not be executed; the message says why, for the agent."""


@dataclass
class ToolContext:
    """Episode-local state handed to tools that declare a ``ToolContext`` parameter.

    ``store`` must stay picklable; envs create a fresh context per episode and snapshot it in
    ``get_state``.
    """

    store: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> ToolContext:
        return ToolContext(copy.deepcopy(self.store))


_SIMPLE: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def json_schema_for(annotation: Any) -> dict[str, Any]:
    """The JSON schema of a Python type annotation (see the module docstring for the mapping)."""
    origin = get_origin(annotation)
    if annotation in _SIMPLE:
        return {"type": _SIMPLE[annotation]}
    if origin is Literal:
        values = list(get_args(annotation))
        kinds = {json_schema_for(type(v))["type"] for v in values}
        schema: dict[str, Any] = {"enum": values}
        if len(kinds) == 1:
            schema["type"] = kinds.pop()
        return schema
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return json_schema_for(args[0])
        return {"anyOf": [json_schema_for(a) for a in args]}
    if origin in (list, tuple, abc.Sequence):
        item_types = get_args(annotation)
        array: dict[str, Any] = {"type": "array"}
        if item_types and item_types[0] is not Ellipsis:
            array["items"] = json_schema_for(item_types[0])
        return array
    if annotation is Any:
        return {}
    if origin in (dict, abc.Mapping):
        return {"type": "object"}
    raise TypeError(f"no JSON schema for the annotation {annotation!r}")


_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (first paragraph) and the ``Args:`` descriptions of a docstring."""
    doc = inspect.cleandoc(doc or "")
    paragraphs = doc.split("\n\n")
    description = " ".join(paragraphs[0].split()) if paragraphs and paragraphs[0] else ""
    args: dict[str, str] = {}
    in_args, section_indent, arg_indent, current = False, 0, -1, ""
    for line in doc.splitlines():
        indent = len(line) - len(line.lstrip())
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args, section_indent, arg_indent, current = True, indent, -1, ""
            continue
        if not in_args or not line.strip():
            continue
        if indent <= section_indent:  # the next section starts
            in_args = False
            continue
        match = _ARG_LINE.match(line)
        if match and (arg_indent < 0 or indent <= arg_indent):
            arg_indent, current = indent, match.group(1)
            args[current] = match.group(2).strip()
        elif current:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return description, args


@dataclass(frozen=True)
class Tool:
    """A registered tool: the function, its JSON schema and the injected-context parameter."""

    name: str
    fn: Callable[..., Any]
    schema: dict[str, Any]
    context_param: str | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.schema["function"]["parameters"]["properties"])

    @property
    def required(self) -> list[str]:
        return list(self.schema["function"]["parameters"]["required"])


def _tool_from_function(fn: Callable[..., Any], name: str | None = None) -> Tool:
    hints = typing.get_type_hints(fn)
    description, arg_docs = _parse_docstring(fn.__doc__ or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    context_param = None
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args / **kwargs are not supported")
        if pname not in hints:
            raise TypeError(f"tool {fn.__name__}: parameter {pname!r} needs a type hint")
        if hints[pname] is ToolContext:
            context_param = pname
            continue
        schema = json_schema_for(hints[pname])
        if pname in arg_docs:
            schema["description"] = arg_docs[pname]
        if param.default is param.empty:
            required.append(pname)
        else:
            schema["default"] = param.default
        properties[pname] = schema
    tool_name = name or fn.__name__
    return Tool(
        name=tool_name,
        fn=fn,
        schema={
            "type": "function",
            "function": {
                "name": tool_name,
                "description": description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        },
        context_param=context_param,
    )


def _type_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(_type_ok(value, s) for s in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "array":
        items = schema.get("items")
        return isinstance(value, list) and (items is None or all(_type_ok(v, items) for v in value))
    if kind == "object":
        return isinstance(value, dict)
    return True


def _describe(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_describe(s) for s in schema["anyOf"])
    return f"a JSON {schema.get('type', 'value')}"


class ToolRegistry:
    """A named set of tools.

    Register a typed, documented function with :meth:`register` (also usable as a decorator);
    :meth:`schemas` lists the OpenAI-format schemas and :meth:`call` runs a checked call.

    Example:
        >>> registry = ToolRegistry()
        >>> @registry.register
        ... def double(x: float) -> float:
        ...     '''Twice a number.
        ...
        ...     Args:
        ...         x: The number.
        ...     '''
        ...     return 2 * x
        >>> registry.schemas()[0]["function"]["parameters"]["properties"]
        {'x': {'type': 'number', 'description': 'The number.'}}
        >>> registry.call("double", {"x": 3})
        6
    """

    def __init__(self, tools: Iterable[Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for fn in tools:
            self.register(fn)

    def register(self, fn: Callable[..., Any], *, name: str | None = None) -> Callable[..., Any]:
        """Add ``fn`` as a tool (its schema derived from its signature and docstring)."""
        tool = _tool_from_function(fn, name)
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return fn

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """Every tool's schema in the OpenAI tools format."""
        return [copy.deepcopy(t.schema) for t in self._tools.values()]

    def check(self, name: Any, arguments: Any) -> Tool:
        """The tool, after checking the call; raises :class:`ToolCallError` saying what is wrong."""
        if not isinstance(name, str) or name not in self._tools:
            raise ToolCallError(f"unknown tool {name!r}; available tools: {', '.join(self.names)}")
        tool = self._tools[name]
        if not isinstance(arguments, dict):
            raise ToolCallError(f"{name}: 'parameters' must be a JSON object")
        unknown = sorted(set(arguments) - set(tool.parameters))
        if unknown:
            raise ToolCallError(
                f"{name}: unknown parameter(s) {unknown}; it takes {sorted(tool.parameters)}"
            )
        missing = [p for p in tool.required if p not in arguments]
        if missing:
            raise ToolCallError(f"{name}: missing required parameter(s) {missing}")
        for pname, value in arguments.items():
            schema = tool.parameters[pname]
            if value is None and "default" in schema and schema["default"] is None:
                continue  # an explicit null for an optional parameter that defaults to None
            if not _type_ok(value, schema):
                raise ToolCallError(
                    f"{name}: parameter {pname!r} must be {_describe(schema)}, got {value!r}"
                )
        return tool

    def call(self, name: Any, arguments: Any, context: ToolContext | None = None) -> Any:
        """Run a checked call; tool exceptions become :class:`ToolCallError`."""
        tool = self.check(name, arguments)
        kwargs = dict(arguments)
        if tool.context_param is not None:
            kwargs[tool.context_param] = context if context is not None else ToolContext()
        try:
            return tool.fn(**kwargs)
        except ToolCallError:
            raise
        except Exception as exc:
            raise ToolCallError(f"{name} failed: {exc}") from None

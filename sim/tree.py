"""Dotted paths over a tree of pydantic models: checking a path, setting and merging values, turning
validation errors into messages that name the path, the value and what is allowed.

A tree is a root model whose fields are values, tables of the tree (models, merged key by key), lists
and tables of free keys (`dict[str, X]`: a key, then a value or a table below it). Nothing here knows
which tree: every helper that walks one is given its root (`sim.params` gives `Scenario`, the
experiment files their own). `vendor.rebate.rate` is a path; `schedule[0].quarter` a location in a
message.
"""

from __future__ import annotations

import difflib
import re
import sys
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ValidationError, model_serializer

from sim.errors import InputError


class ParameterError(InputError):
    """Bad parameters: each problem names the path, the value and what is allowed."""

    separator = "; "


# --------------------------------------------------------------------------- annotations


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds, if any (unwrapping Optional and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = submodel(arg)
            if found:
                return found
    return None


def dict_type(annotation: Any) -> Any:
    """The dict[...] an annotation holds (unwrapping Optional and Annotated), or None."""
    if typing.get_origin(annotation) is dict:
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = dict_type(arg)
            if found is not None:
                return found
    return None


def unwrap(annotation: Any) -> Any:
    """The type inside Optional and Annotated: `Annotated[float, ...] | None` is float."""
    while typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = inner[0]
    return annotation


def model_at(loc: list[str], root: type[BaseModel]) -> type[BaseModel] | None:
    """The table class at a validation location (list items and free-key tables stepped through)."""
    annotation: Any = root
    for part in loc:
        model = submodel(annotation)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            continue
        args = typing.get_args(unwrap(annotation))
        if not args:
            return None
        annotation = args[-1]  # list[X] -> X, dict[K, V] -> V
    return submodel(annotation)


# --------------------------------------------------------------------------- tables in part


class Partial(BaseModel):
    """A table of the tree in part (made by `partial`): None is a value not stated, left out of its dumps."""

    @model_serializer(mode="wrap")
    def _stated(self, handler: Any) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


@cache
def partial(model: type[BaseModel], leave_out: frozenset[str] = frozenset()) -> type[Partial]:
    """`model` in part: every field optional (None, not stated, by default) with its type and bounds, a table of
    the tree in part too; `leave_out` names dotted fields it does not have. What needs a whole table (a check
    across its fields) is checked once it is laid over one (`merge`). The class is named in this module, so
    that a tree holding it pickles."""
    annotations: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in leave_out:
            continue
        sub = submodel(field.annotation) if dict_type(field.annotation) is None else None
        if sub is not None:
            inner: Any = partial(sub, frozenset(p.split(".", 1)[1] for p in leave_out if p.startswith(f"{name}.")))
        else:
            inner = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        annotations[name] = inner | None
    module = sys.modules[__name__]
    name = f"{model.__name__}InPart"
    while hasattr(module, name):  # the same table with other fields left out
        name += "_"
    namespace = {"__annotations__": annotations, "__doc__": f"{model.__name__}, in part.", "__module__": __name__,
                 "model_config": dict(model.model_config), **dict.fromkeys(annotations)}
    made = types.new_class(name, (Partial,), exec_body=lambda body: body.update(namespace))
    setattr(module, name, made)
    return made


# --------------------------------------------------------------------------- paths


def suggest(word: str, candidates) -> str:
    """` (did you mean 'rate'?)` for the candidate nearest a misspelt word, or ''."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_path(path: str, root: type[BaseModel]) -> None:
    """Raise ParameterError unless `path` names a parameter of the tree of `root`."""
    node: type[BaseModel] | None = root
    parts = path.split(".")
    depth = 0
    while depth < len(parts):
        part = parts[depth]
        here = ".".join(parts[:depth])
        if node is None:
            raise ParameterError([f"{here} is a value, not a table: '{path}' does not exist"])
        fields = node.model_fields
        if part not in fields:
            where = f"in '{here}'" if here else "at the top level"
            raise ParameterError([f"unknown parameter '{path}' {where}{suggest(part, fields)}"])
        annotation = fields[part].annotation
        table = dict_type(annotation)
        if table is None:
            node = submodel(annotation)
            depth += 1
            continue
        value_model = submodel(typing.get_args(table)[1])
        if value_model is None:  # a table of values: a key, and nothing below it
            if depth < len(parts) - 2:
                raise ParameterError([f"'{path}': {'.'.join(parts[:depth + 2])} is a value, not a table"])
            return
        node = value_model  # a table of tables: skip the key
        depth += 2


def set_path(data: dict, path: str, value: Any, root: type[BaseModel]) -> None:
    """Put `value` at `path` of a dumped tree, making the tables on the way; raises ParameterError."""
    check_path(path, root)
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = plain(value)


def child(node: Any, key: str) -> Any:
    """A table's value at `key` (None where a table of values does not hold the key)."""
    return node.get(key) if isinstance(node, dict) else getattr(node, key)


def copy_into(live: BaseModel, validated: BaseModel) -> None:
    """Every value of `validated` put into `live`, tables into the tables `live` holds (not replacing them)."""
    for name in type(live).model_fields:
        value, current = getattr(validated, name), getattr(live, name)
        if isinstance(value, BaseModel) and type(current) is type(value):
            copy_into(current, value)
        else:
            object.__setattr__(live, name, value)


# --------------------------------------------------------------------------- values and merging


def plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (strict validation refuses numpy ints)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def dump(value: Any) -> Any:
    """A value as plain Python: tables as dicts, through lists and free-key tables."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    return value


def deep_copy(data: Mapping[str, Any]) -> dict:
    """Nested mappings copied as dicts, numpy values as Python ones."""
    return {k: deep_copy(v) if isinstance(v, Mapping) else plain(v) for k, v in data.items()}


def merge(base: dict, patch: Mapping[str, Any], model: type[BaseModel]) -> dict:
    """`patch` laid over `base` (both dumped trees of `model`), table by table: a table of the tree is
    merged key by key (so a partial table keeps the defaults around it); a value, a list or a table of
    free keys (a push, the product lines) is replaced whole, except a table of tables in part (`partial`), merged
    entry by entry. Unknown keys are kept, for validation to report."""
    out = dict(base)
    for key, value in patch.items():
        field = model.model_fields.get(key)
        table = dict_type(field.annotation) if field is not None else None
        sub = submodel(field.annotation) if field is not None and table is None else None
        parts = submodel(typing.get_args(table)[1]) if table is not None else None
        if sub is not None and isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, sub)
        elif parts is not None and issubclass(parts, Partial) and isinstance(value, Mapping) \
                and isinstance(out.get(key), dict):
            out[key] = {**out[key], **{name: merge(out[key][name], item, parts)
                                       if isinstance(item, Mapping) and isinstance(out[key].get(name), dict) else item
                                       for name, item in value.items()}}
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- messages


def problem_path(problem: str) -> str:
    """The dotted path a problem message is about ('' if none)."""
    match = re.match(r"^(?:unknown parameter )?'?([A-Za-z_][\w.]*(?:\[\d+\])?[\w.]*)'?(?: =|:| in | \(|$)", problem)
    return match.group(1) if match else ""


def dotted(loc) -> str:
    """A validation location in the one notation of messages: `schedule[0].quarter`, `vendor.rebate.rate`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith("function-"):
            path += f".{part}" if path else str(part)
    return path


def explain(error: ValidationError, root: type[BaseModel]) -> list[str]:
    """Pydantic's errors on a tree of `root` as one line each: path, bad value, what is allowed."""
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith("function-")]
        path = dotted(item["loc"])
        message = item["msg"]
        message = re.sub(r"^(Value error|Assertion failed), ", "", message)
        message = message.replace("Input should be", "must be")
        if item["type"] == "extra_forbidden":
            parent = ".".join(loc[:-1])
            node = model_at(loc[:-1], root)
            fields = node.model_fields if node else {}
            lines.append(f"unknown parameter '{path}'{suggest(loc[-1], fields)}"
                         + (f" in '{parent}'" if parent else ""))
            continue
        if item["type"] == "missing":
            lines.append(f"{path}: required value is missing")
            continue
        value = item.get("input")
        if isinstance(value, (dict, BaseModel)) and item["type"] in ("value_error", "assertion_error"):
            lines.append(f"{path}: {message}" if path else message)
        else:
            shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as TOML writes a bool
            lines.append(f"{path} = {shown}: {message}" if path else message)
    return lines

"""One key of bhsvc.yaml on its own: the rule the model applies to it, for a value
that comes alone (an answer in the `bhsvc init` wizard)."""

from __future__ import annotations

import functools
import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter

from bhsvc.config.model import Config


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section model an annotation holds (`GarSettings | None` -> GarSettings)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def section_at(path: tuple[str, ...]) -> type[BaseModel] | None:
    """The model of the section at `path` (() is the whole file), None if there is none."""
    model: type[BaseModel] | None = Config
    for part in path:
        info = model.model_fields.get(part) if model is not None else None
        model = _model_in(info.annotation) if info is not None else None
    return model


@functools.cache
def field_rule(path: str) -> TypeAdapter[Any]:
    """The validation the model applies to the key at dotted `path`, alone."""
    *parents, name = path.split(".")
    model = section_at(tuple(parents))
    info = model.model_fields.get(name) if model is not None else None
    if info is None:
        raise KeyError(f"bhsvc.yaml has no key {path}")
    annotation: Any = info.annotation
    if info.metadata:  # the validators of an Annotated type, which pydantic took apart
        annotated: Any = Annotated
        annotation = annotated[tuple([annotation, *info.metadata])]
    return TypeAdapter(annotation)

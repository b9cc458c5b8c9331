"""Bad input as one line that names the field: pydantic's errors become :class:`SpecError`.

Checks that run inside pydantic validators (plugin names, plugin options, rules across
sections) raise :func:`field_error`, which keeps their own message and the exact field,
instead of pydantic's generic ``Value error, …, got <the whole section>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from rdlab.errors import SpecError
from rdlab.registry import Registry

FIELD_ERROR = "rdlab_field_error"  # the pydantic error type of field_error
T = TypeVar("T")
OptionsT = TypeVar("OptionsT", bound=BaseModel)


def field_error(field: str, message: str) -> PydanticCustomError:
    """An error to raise inside a validator: ``field`` is relative to the model validated
    (empty for the model itself), ``message`` reaches the user unchanged."""
    detail = f"{field}: {message}" if field else message
    return PydanticCustomError(
        FIELD_ERROR, "{detail}", {"field": field, "message": message, "detail": detail}
    )


def lookup(registry: Registry[T], name: str, field: str) -> T:
    """``registry.get`` inside a validator: an unknown name lists the known ones."""
    try:
        return registry.get(name, field)
    except SpecError as err:
        raise field_error(err.field, err.message) from None


def checked_options(
    options_cls: type[OptionsT],
    options: Mapping[Any, Any],
    name: str,
    common: Iterable[str] = (),
    prefix: str = "",
) -> OptionsT:
    """A plugin's options validated by its ``Options`` model, inside a validator. Errors
    name ``prefix + option``; an unknown key lists what the mapping allows: ``common``
    fields beside the options and the plugin's own options."""
    try:
        return options_cls.model_validate(dict(options))
    except ValidationError as err:
        e = spec_error_from_pydantic(err, options_cls, prefix)
        if err.errors()[0]["type"] == "extra_forbidden":
            allowed = sorted(set(common) | set(options_cls.model_fields))
            listed = f"allowed: {', '.join(allowed)}" if allowed else "it takes no options"
            e = SpecError(e.field, f"unknown key for {name!r}; {listed}")
        raise field_error(e.field, e.message) from None


def describe(value: Any) -> str:
    """A bad value as the user sees it in an error: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    cls: Any = model
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type)):
            return []
        cls = field.annotation
        if not issubclass(cls, BaseModel):
            return []
    return sorted(cls.model_fields)


def spec_error_from_pydantic(
    err: ValidationError, model: type[BaseModel], prefix: str = ""
) -> SpecError:
    """The first pydantic error, as one line naming the dotted field and the bad value."""
    e = err.errors()[0]
    loc = tuple(e["loc"])
    parts = [str(p) for p in loc]
    if e["type"] == FIELD_ERROR:
        ctx = e.get("ctx") or {}
        sub = str(ctx.get("field", ""))
        return SpecError(prefix + ".".join([*parts, sub] if sub else parts), str(ctx["message"]))
    field = prefix + ".".join(parts)
    if e["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return SpecError(field, f"unknown key; allowed: {', '.join(allowed)}")
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if e["type"] not in ("missing",):
        msg = f"{msg}, got {describe(e.get('input'))}"
    return SpecError(field, msg)

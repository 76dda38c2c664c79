"""A request's query or JSON body, validated by its contract model; a 400 names each problem."""
from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from meter.core.errors import InvalidRequest
from meter.core.problems import details

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: object, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"the {what} is invalid", details(exc)) from None


def query(request: web.Request, model: type[M]) -> M:
    # a repeated parameter: the first one counts, as aiohttp's .get() reads it
    return validated(model, {name: request.query[name] for name in request.query}, "query")

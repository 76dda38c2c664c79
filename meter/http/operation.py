"""What the spec says of a handler beyond its route and roles: its summary, models and answers.

``@operation(...)`` stores an ``Operation`` on the handler; ``meter.http.openapi`` reads it with
the route table, so the spec of an endpoint sits next to the code that serves it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    """One status: what it means, and the answer's model (``meter.contract.answers``; None: no
    body, or not JSON)."""

    description: str
    schema: Any = None
    headers: tuple[str, ...] = ()
    media: tuple[str, ...] = ()  # a body that is not JSON: the media types it may take


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: dict[int, Answer]
    body: dict[str, Any] | None = None  # media type -> request type (a model or an annotated type)
    body_required: bool = True
    query: Any = None  # a model whose fields are the query parameters
    path: dict[str, dict[str, Any]] = field(default_factory=dict)  # path parameter -> JSON Schema
    description: str = ""


def operation(summary: str, answers: dict[int, Answer | str], **kw: Any) -> Callable[[F], F]:
    """Attach an ``Operation`` to a handler; a plain string answer is a description, no body."""
    op = Operation(summary, {s: a if isinstance(a, Answer) else Answer(a) for s, a in answers.items()}, **kw)

    def mark(handler: F) -> F:
        handler.operation = op  # type: ignore[attr-defined]
        return handler

    return mark

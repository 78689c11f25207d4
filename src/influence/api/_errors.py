"""Errors the API answers with, and their JSON shape: `{"detail": [...], "request_id": ..., "model_version": ...}`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ApiProblem", "InvalidRequest", "ModelNotReady", "json_path", "problem_item"]


def json_path(loc: Sequence[str | int]) -> str:
    """`("body", "people", 3, "side")` -> `body.people[3].side`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def problem_item(loc: Sequence[str | int], msg: str, kind: str) -> dict[str, Any]:
    """One entry of a 422's `detail` list."""
    return {"path": json_path(loc), "loc": list(loc), "msg": msg, "type": kind}


@dataclass(frozen=True)
class ApiProblem:
    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"


class InvalidRequest(Exception):
    """The request is well-formed JSON but breaks the contract; answered with 422 listing every problem."""

    def __init__(self, problems: Iterable[ApiProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{json_path(p.loc)}: {p.msg}" for p in self.problems))

    def detail(self) -> list[dict[str, Any]]:
        return [problem_item(p.loc, p.msg, p.type) for p in self.problems]


class ModelNotReady(Exception):
    """No model is loaded (yet): answered with 503."""

"""Server settings, read from the environment (prefix `INFLUENCE_`) by pydantic-settings.

| variable | default | meaning |
|---|---|---|
| `INFLUENCE_MODEL` | `models/influence-default` | bundle folder, or `models:/NAME@ALIAS` / `models:/NAME/VERSION` |
| `INFLUENCE_API_KEYS` | empty (auth off) | comma-separated keys accepted in the `X-API-Key` header |
| `INFLUENCE_MAX_BODY_BYTES` | 2097152 (2 MiB) | larger request bodies get 413 |
| `INFLUENCE_MAX_PEOPLE` | 500 | most people in one `/v1/deals/score` body |
| `INFLUENCE_MAX_ROWS` | 1000 | most rows in one `/v1/people/score` body |
| `INFLUENCE_OFFLOAD_MIN_ROWS` | 256 | /v1/people/score requests with more rows are scored in a worker thread |
| `INFLUENCE_CPU_THREADS` | 1 | BLAS/OpenMP threads per server process |
| `INFLUENCE_DATA` | empty | dataset folder whose deals the map pages show at /deals (docs/map.md) |
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from influence.settings import default_model_path

__all__ = ["ApiSettings", "default_model_ref"]


def default_model_ref() -> str:
    """The default model shipped with the project: `models/influence-default` under the project root."""
    return str(default_model_path())


class ApiSettings(BaseSettings):
    """Settings of the scoring API; every field can be set as `INFLUENCE_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="INFLUENCE_", extra="ignore", protected_namespaces=())

    model: str = Field(
        default_factory=default_model_ref,
        description="Model bundle folder, or an MLflow registry URI models:/NAME@ALIAS or models:/NAME/VERSION.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        repr=False,
        description="Accepted X-API-Key values (comma-separated in the environment); empty turns auth off.",
    )
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest accepted request body, in bytes."
    )
    max_people: int = Field(500, ge=1, description="Most people in one /v1/deals/score request.")
    max_rows: int = Field(1000, ge=1, description="Most rows in one /v1/people/score request.")
    offload_min_rows: int = Field(
        256,
        ge=0,
        description="/v1/people/score requests with more rows than this are scored in a worker thread, so the "
        "event loop keeps answering health checks; smaller ones run inline (a thread hop costs more than they "
        "do). /v1/deals/score always runs in the worker thread.",
    )
    cpu_threads: int = Field(
        1, ge=1, description="BLAS/OpenMP threads per process (small inputs: 1 is fastest)."
    )
    data: str | None = Field(
        None,
        description="Dataset folder whose deals the map pages show (/deals); `influence serve --data DIR`.",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

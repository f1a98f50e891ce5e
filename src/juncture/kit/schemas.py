"""Wire-contract helpers shared by every room: the ORM-reading base model and pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ReadModel(BaseModel):
    """Base for ``XRead`` schemas: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class WriteModel(BaseModel):
    """Base for ``XCreate``/``XUpdate`` schemas: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total so clients can page on."""

    items: list[T]
    total: int = Field(description="Number of items matching the filter, over all pages")
    limit: int
    offset: int


class ErrorBody(BaseModel):
    """The JSON shape of every error answer."""

    code: str = Field(description="Stable machine-readable code, e.g. `not_found`")
    detail: str = Field(description="Human-readable explanation")

"""What ``/api/v1`` answers: one row of :data:`ROUTES` per route, with the models of bot/api.py
that validate its requests and shape its answers. The server (mount.py) and the OpenAPI document
(openapi.py) are both built from this table."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from bot import api

PREFIX = "/api/v1"


class Problem(BaseModel):
    """An error, as RFC 9457 describes it: ``detail`` is one sentence saying what was wrong."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under PREFIX; ``{ref}`` is KR-n or O-n
    summary: str
    answer: type[BaseModel]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    ref: str = ""  # "KR" or "O" when the path has {ref}


ROUTES = (
    Route("GET", "/key-results", "Key results of the open cycles, or of one cycle, filtered", api.KeyResultList,
          query=api.KeyResultFilters),
    Route("GET", "/key-results/{ref}", "One key result with its check-in history", api.KeyResultDetail, ref="KR"),
    Route("POST", "/key-results/{ref}/check-ins", "Record a check-in; Idempotency-Key makes a retry record once",
          api.CheckInOut, body=api.CheckInBody, status=201, ref="KR"),
    Route("GET", "/objectives", "Objectives of the open cycles, or of one cycle, filtered", api.ObjectiveList,
          query=api.ObjectiveFilters),
    Route("GET", "/objectives/{ref}", "One objective with its key results", api.ObjectiveDetail, ref="O"),
    Route("GET", "/digest", "A team's digest as facts: progress, confidence, who checked in, risks, the value chain",
          api.DigestOut, query=api.DigestQuery),
)  # fmt: skip

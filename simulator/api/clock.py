"""The workspace clock: real time shifted by an offset. Every DMP handler of the workspace reads its "now" from
it (VIHF validity, authorization expiry, submission times), so a test moves time without sleeping."""
from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .common import api_router, workspace_now, workspace_tx

router = api_router("clock")

MAX_OFFSET = 50 * 366 * 86_400  # ±50 years: fits the 32-bit column on every database


class ClockOut(BaseModel):
    offset_seconds: int = Field(description="The workspace's now minus real time")
    now: datetime = Field(description="The workspace's now")
    real_now: datetime


class ClockIn(BaseModel):
    """Exactly one of ``offset_seconds`` and ``now``."""

    model_config = ConfigDict(extra="forbid")

    offset_seconds: int | None = Field(None, ge=-MAX_OFFSET, le=MAX_OFFSET, description="Negative: the past")
    now: AwareDatetime | None = Field(None, description="The instant the workspace's now should be, with its zone "
                                                        "(e.g. 2030-01-01T08:00:00Z); the offset is computed")

    @model_validator(mode="after")
    def _exactly_one(self) -> ClockIn:
        if (self.offset_seconds is None) == (self.now is None):
            raise ValueError("give exactly one of offset_seconds and now")
        if self.now is not None and abs(self.offset_from(datetime.now(UTC))) > MAX_OFFSET:
            raise ValueError("now is more than 50 years away from real time")
        return self

    def offset_from(self, real_now: datetime) -> int:
        if self.offset_seconds is not None:
            return self.offset_seconds
        assert self.now is not None
        return round((self.now - real_now).total_seconds())


def _clock(request: Request, workspace: str, offset: int | None = None) -> ClockOut:
    with workspace_tx(request, workspace, readonly=offset is None) as tx:
        if offset is not None:
            tx.controls.set_clock_offset(workspace, offset)
        return ClockOut(offset_seconds=tx.controls.clock_offset(workspace), now=workspace_now(tx, workspace),
                        real_now=datetime.now(UTC))


@router.get("/workspaces/{workspace}/clock")
def get_clock(workspace: str, request: Request) -> ClockOut:
    return _clock(request, workspace)


@router.put("/workspaces/{workspace}/clock")
def set_clock(workspace: str, body: ClockIn, request: Request) -> ClockOut:
    """Shift the workspace clock by ``offset_seconds``, or to ``now`` (kept as an offset: time goes on)."""
    return _clock(request, workspace, body.offset_from(datetime.now(UTC)))


@router.delete("/workspaces/{workspace}/clock")
def reset_clock(workspace: str, request: Request) -> ClockOut:
    """Back to real time."""
    return _clock(request, workspace, 0)

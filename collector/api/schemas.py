"""Response models that document the API in its OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PesRow(BaseModel):
    """One segment. Group-by attributes (device_type, firmware_version, label:<key>) come first."""

    model_config = ConfigDict(extra="allow")

    active: int
    adoption: float | None
    stickiness: float | None
    growth: float
    pes: float | None
    new: int
    recovered: int
    dropped: int
    quick_ratio: float | None
    dau: int
    wau: int
    mau: int
    low_sample: bool
    core_features: dict[str, list[str]]
    feature_adoption: dict[str, float]

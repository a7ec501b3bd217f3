"""Who the hosting service provider is and how long things are kept: ``SEAWALL_LEGAL_*`` variables.

Kept apart from the engine's settings because only the legal paperwork needs them (Annex II/III
section C, the Transparency Database account, the preservation period).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LegalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEAWALL_LEGAL_", extra="ignore")

    provider_name: str = Field(default="", description="Hosting service provider (or legal representative) name.")
    establishment_state: str = Field(default="", description="Member State of main establishment or representative.")
    authorised_person: str = Field(default="", description="Person who signs Annex II/III forms.")
    contact_email: str = Field(default="", description="The Art. 15 contact point e-mail.")
    preservation_days: int = Field(default=183, ge=1, description="TCO Art. 6: keep removed content this long.")
    auto_execute: bool = Field(default=True, description="Remove located content as soon as an order arrives.")
    tick_seconds: float = Field(default=15, gt=0, description="How often alerts, expiry and notices are checked.")
    complaint_days: int = Field(default=14, ge=1, description="TCO Art. 10(2): answer a complaint within this long.")
    tdb_url: str = Field(default="", description="Transparency Database base URL (sandbox first).")
    tdb_token: str = Field(default="", description="Transparency Database API token (never logged).")
    platform_name: str = Field(default="", description="Platform name used in puids and reports.")
    sor_ground: str = Field(default="incompatible", pattern="^(incompatible|illegal)$",
                            description="Statements' ground: the terms of service, or the law (TCO Art. 2(7)).")
    terms_ground: str = Field(default="Terms of service: terrorist and violent extremist content",
                              description="The terms clause statements of reasons cite.")
    terms_url: str = Field(default="", description="Where those terms are published (decision_ground_reference_url).")
    territorial_scope: str = Field(default="", description="Comma-separated country codes; empty = all of the EEA.")
    sor_enabled: bool = Field(default=True, description="Write a statement of reasons for every restriction.")

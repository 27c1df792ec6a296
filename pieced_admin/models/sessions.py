"""Sign-in sessions kept on the server: the browser's cookie only names one, so logging out ends it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class UserSession(db.Model):
    """One sign-in. The cookie carries a random token; only its SHA-256 is stored here."""

    __tablename__ = "user_sessions"
    __table_args__ = (sa.Index("ix_user_sessions_user_open", "user_id", "ended_at"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    roles_checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(sa.String(80))
    # The provider's tokens, kept server-side: to read the roles again (userinfo), and for logout.
    access_token: Mapped[str | None] = mapped_column(sa.Text)
    id_token: Mapped[str | None] = mapped_column(sa.Text)

"""One strike per item: ``strikes.withdrawn_at`` and a unique index over (account, item) of strikes not withdrawn.

One violation (one item) gives its account at most one strike. Until now nothing kept it so: a reviewer's
strike sent twice, a strike through ``POST /v1/items/{id}/actions`` after the rules had struck, or twenty
copies of one request each added a strike, and enough of them suspended the account. The index keeps it in
the database. A strike withdrawn because an appeal was upheld stays on record and no longer counts here, so
the item may be struck again by a later decision; it is now marked by ``withdrawn_at`` as well as by the
``[withdrawn: …]`` note its reason already carried (rows withdrawn before take the strike's end as the time).

A store that already holds more than one such strike for an item is merged, deleting nothing: the first
strike stands, each later one is withdrawn as an appeal would withdraw it (it ends now, if it had not
ended, and its reason says which strike it repeated). A suspension such a repeat triggered is not lifted
here: whether it stands is a person's call, so the upgrade logs the accounts concerned.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04 16:30:00
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_OPEN = sa.text("item_id IS NOT NULL AND withdrawn_at IS NULL")
#: The mark :meth:`seawall.accounts.service.AccountService.withdraw_strike` puts in a withdrawn strike's reason.
_WITHDRAWN_MARK = "%[withdrawn:%"
#: The columns this migration reads and writes, typed so that times are stored as the application stores them.
_STRIKES = sa.table("strikes", sa.column("id", sa.BigInteger), sa.column("account_id", sa.String),
                    sa.column("item_id", sa.String), sa.column("reason", sa.Text),
                    sa.column("expires_at", sa.DateTime(timezone=True)),
                    sa.column("withdrawn_at", sa.DateTime(timezone=True)))


def _merge_repeats(conn: sa.Connection) -> None:
    """Withdraw every strike but the first of an account for one item, keeping each on record."""
    open_ = sa.and_(_STRIKES.c.item_id.is_not(None), _STRIKES.c.withdrawn_at.is_(None))
    rows = conn.execute(sa.select(_STRIKES.c.id, _STRIKES.c.account_id, _STRIKES.c.item_id, _STRIKES.c.reason,
                                  _STRIKES.c.expires_at).where(open_)
                        .order_by(_STRIKES.c.account_id, _STRIKES.c.item_id, _STRIKES.c.id)).all()
    now = datetime.now(UTC)
    first: dict[tuple[str, str], int] = {}
    accounts: set[str] = set()
    for strike_id, account_id, item_id, reason, expires_at in rows:
        kept = first.setdefault((account_id, item_id), strike_id)
        if kept == strike_id:
            continue
        accounts.add(account_id)
        if expires_at is not None and expires_at.tzinfo is None:  # SQLite keeps UTC without its offset
            expires_at = expires_at.replace(tzinfo=UTC)
        ends = now if expires_at is None or expires_at > now else expires_at
        why = f"{reason} [withdrawn: repeats strike {kept} for the same item (migration 0031)]"[:5000]
        conn.execute(_STRIKES.update().where(_STRIKES.c.id == strike_id)
                     .values(withdrawn_at=now, expires_at=ends, reason=why))
    if accounts:
        names = ", ".join(sorted(accounts)[:20]) + (f" and {len(accounts) - 20} more" if len(accounts) > 20 else "")
        log.warning("strikes: repeated strikes for one item withdrawn (kept on record) for accounts %s; "
                    "review any suspension they triggered", names)


def upgrade() -> None:
    with op.batch_alter_table("strikes") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE strikes SET withdrawn_at = COALESCE(expires_at, created_at) WHERE reason LIKE :mark"),
                 {"mark": _WITHDRAWN_MARK})
    _merge_repeats(conn)
    op.create_index("uq_strikes_account_item_open", "strikes", ["account_id", "item_id"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("uq_strikes_account_item_open", table_name="strikes")
    with op.batch_alter_table("strikes") as batch:
        batch.drop_column("withdrawn_at")

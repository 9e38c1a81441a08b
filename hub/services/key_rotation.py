"""Re-encrypting what is stored under the newest of ``HOOKHUB_SECRET_KEYS``: connection secrets,
inbound keys and params. Afterwards the older keys can be removed from the setting and every value
still decrypts. Rows are rewritten in batches, one short transaction each, without touching their
``updated_at`` or version (the values they hold do not change)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from hub.storage.config import ConfigError
from hub.storage.db import Database
from hub.storage.models import Connection, Param
from hub.storage.vault import Vault

#: (what it is called in the report, model, column)
ENCRYPTED = (("connection secrets", Connection, "secrets_encrypted"),
             ("inbound keys", Connection, "api_key_encrypted"),
             ("params", Param, "value_encrypted"))


@dataclass
class RotationReport:
    rewritten: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)      # "<what> of <id>": cannot be decrypted by any key

    def lines(self) -> list[str]:
        out = [f"re-encrypted {self.rewritten[what]} {what}" for what, _, _ in ENCRYPTED]
        out += [f"cannot decrypt {item} with any of HOOKHUB_SECRET_KEYS" for item in self.failed]
        return out


def rotate_at_rest_key(database: Database, vault: Vault, newest_only: Vault, batch: int = 200) -> RotationReport:
    """Re-encrypt every stored value with ``vault``'s newest key, and check that ``newest_only`` (a
    vault holding only that key) decrypts each one. Values no key decrypts are reported, untouched."""
    report = RotationReport()
    for what, model, column_name in ENCRYPTED:
        column, table = getattr(model, column_name), model.__table__
        last = ""
        while True:
            with database.session() as session:
                rows = session.execute(sa.select(model.id, column).where(model.id > last, column.is_not(None))
                                       .order_by(model.id).limit(batch)).all()
                for row_id, token in rows:
                    try:
                        rotated = vault.rotate(token)
                        newest_only.decrypt(rotated)
                    except ConfigError:
                        report.failed.append(f"{what} of {row_id}")
                        continue
                    session.execute(sa.update(table).where(table.c.id == row_id).values({column_name: rotated}))
                    report.rewritten[what] += 1
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return report

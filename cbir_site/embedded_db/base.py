"""Django database backend for the embedded PostgreSQL.

It is the stock PostgreSQL backend, except that the first connection starts
the embedded server (see `cbir_site.embedded_pg`) and connects through its
Unix socket. Settings stay free of side effects: nothing starts until a query
needs the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper

from cbir_site import embedded_pg


class DatabaseWrapper(PostgresDatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        server = embedded_pg.ensure_running(Path(self.settings_dict["EMBEDDED_DATA_DIR"]))
        name = self.settings_dict["NAME"]
        if name and name != "postgres":
            embedded_pg.ensure_database(server, name)
        self.settings_dict.update(
            {"HOST": server.host, "PORT": str(server.port), "USER": server.user}
        )
        return super().get_connection_params()

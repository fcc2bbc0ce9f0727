"""Database triggers that make a table append-only (used by the migrations of common and readerstudy).

PostgreSQL refuses UPDATE and DELETE; SQLite refuses UPDATE only: Django's test flush empties tables
with DELETE there (PostgreSQL uses TRUNCATE, which the trigger does not intercept). The statements
are idempotent, so a migration may run them on a database that has the triggers already.
"""

from __future__ import annotations

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION readerstudy_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def create_append_only_trigger(schema_editor, table: str) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_FUNCTION)
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            cursor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION readerstudy_refuse_change();"
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: UPDATE refused'); END;"
            )


def drop_append_only_trigger(schema_editor, table: str) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        elif connection.vendor == "sqlite":
            cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update;")

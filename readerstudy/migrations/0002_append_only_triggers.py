"""Readings and audit events are append-only: the database itself refuses UPDATE and DELETE."""

from django.db import migrations

TABLES = ("readerstudy_reading", "readerstudy_auditevent")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION readerstudy_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_FUNCTION)
            for table in TABLES:
                cursor.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION readerstudy_refuse_change();"
                )
        elif connection.vendor == "sqlite":
            # SQLite refuses UPDATE only: Django's test flush empties tables with DELETE there
            # (PostgreSQL uses TRUNCATE, which the trigger above does not intercept).
            for table in TABLES:
                for op in ("UPDATE",):
                    cursor.execute(
                        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                        f"BEGIN SELECT RAISE(ABORT, 'append-only table {table}: {op} refused'); END;"
                    )


def drop_triggers(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            elif connection.vendor == "sqlite":
                for op in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")


class Migration(migrations.Migration):
    dependencies = [("readerstudy", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]

"""Readings keep the free text of an "Other / not listed" diagnosis (DESIGN 5.2a `other_text`).

SQLite adds a NOT NULL column by rebuilding the table, which drops its triggers, so the append-only
trigger of 0002 is created again there (PostgreSQL keeps its triggers across ADD COLUMN).
"""

from django.db import migrations, models

TABLE = "readerstudy_reading"


def restore_sqlite_trigger(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
            f"BEGIN SELECT RAISE(ABORT, 'append-only table {TABLE}: UPDATE refused'); END;"
        )


class Migration(migrations.Migration):
    dependencies = [("readerstudy", "0002_append_only_triggers")]

    operations = [
        migrations.AddField(
            model_name="reading",
            name="other_text",
            field=models.CharField(
                blank=True, default="", max_length=200,
                help_text='Free text of an "Other / not listed" diagnosis (code OTHER in the differential).',
            ),
        ),
        migrations.RunPython(restore_sqlite_trigger, migrations.RunPython.noop),
    ]

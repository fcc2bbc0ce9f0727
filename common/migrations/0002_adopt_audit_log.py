"""The audit log's content type moves to `common`; on PostgreSQL its old study foreign key goes.

Before the app split `study` was a foreign key; now `study_id` is a plain number (a record outlives
what it describes). The old constraint would refuse deleting a study that has audit events. SQLite
keeps it (rebuilding the append-only table is not worth it; deleting such a study was refused there
before, by the UPDATE trigger that its SET NULL hit).
"""

from django.db import migrations

from common.adopt import foreign_key_constraints, move_content_types

TABLE = "readerstudy_auditevent"


def forwards(apps, schema_editor):
    move_content_types(apps, "readerstudy", "common", ("auditevent",))
    if schema_editor.connection.vendor == "postgresql":
        for name in foreign_key_constraints(schema_editor, TABLE, "study_id"):
            schema_editor.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{name}"')


def backwards(apps, schema_editor):
    move_content_types(apps, "common", "readerstudy", ("auditevent",))


class Migration(migrations.Migration):
    dependencies = [("common", "0001_initial"), ("contenttypes", "0002_remove_content_type_name")]
    operations = [migrations.RunPython(forwards, backwards)]

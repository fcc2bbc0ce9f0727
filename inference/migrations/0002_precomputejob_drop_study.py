"""A database made before the app split has `inference_precomputejob.study_id` (jobs knew their
study); inference now works on case sets only. Drop the column where it exists."""

from django.db import migrations

from common.adopt import column_names

TABLE = "inference_precomputejob"


def forwards(apps, schema_editor):
    if "study_id" not in column_names(schema_editor, TABLE):
        return  # a new database never had it
    if schema_editor.connection.vendor == "sqlite":
        # SQLite cannot drop a column that carries a foreign key: rebuild the table from the model
        # state, which has no study (rows and other columns are copied).
        schema_editor._remake_table(apps.get_model("inference", "PrecomputeJob"))
    else:
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP COLUMN study_id")


class Migration(migrations.Migration):
    dependencies = [("inference", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

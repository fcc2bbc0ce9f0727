"""Content types of the catalogue's models move from `readerstudy` to `catalog` (see common.adopt)."""

from django.db import migrations

from common.adopt import move_content_types

MODELS = ("taxonomy", "condition", "managementoption", "managementrating", "caseset", "case", "caseimage")


def forwards(apps, schema_editor):
    move_content_types(apps, "readerstudy", "catalog", MODELS)


def backwards(apps, schema_editor):
    move_content_types(apps, "catalog", "readerstudy", MODELS)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial"), ("contenttypes", "0002_remove_content_type_name")]
    operations = [migrations.RunPython(forwards, backwards)]

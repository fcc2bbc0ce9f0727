"""The audit log, created fresh or adopted from a database made before the app split.

`replaces` names a migration of the old readerstudy history: a database that applied it (every
database at the old head) takes this one as applied, and keeps its `readerstudy_auditevent` table and
triggers; a new database runs it. See README, "Upgrading a database made before the app split".
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from common.append_only import create_append_only_trigger, drop_append_only_trigger


def append_only(apps, schema_editor):
    create_append_only_trigger(schema_editor, "readerstudy_auditevent")


def not_append_only(apps, schema_editor):
    drop_append_only_trigger(schema_editor, "readerstudy_auditevent")


class Migration(migrations.Migration):

    initial = True
    replaces = [('readerstudy', '0002_append_only_triggers')]

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(db_index=True, max_length=60)),
                ('study_id', models.BigIntegerField(blank=True, db_index=True, help_text='The study the event belongs to, if any.', null=True)),
                ('object_type', models.CharField(blank=True, max_length=60)),
                ('object_id', models.CharField(blank=True, max_length=64)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'readerstudy_auditevent',
                'ordering': ['-at'],
            },
        ),
        migrations.RunPython(append_only, not_append_only),
    ]

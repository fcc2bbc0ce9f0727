"""The case catalogue's tables, created fresh or adopted from a database made before the app split.

`replaces` names the last migration of the old readerstudy history that changed these tables: a
database that applied it takes this one as applied and keeps its `readerstudy_*` tables and data; a new
database runs it. See README, "Upgrading a database made before the app split".
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True
    replaces = [('readerstudy', '0008_taxonomy_translations')]

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Condition',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=40)),
                ('name', models.CharField(max_length=200)),
                ('synonyms', models.JSONField(blank=True, default=list)),
                ('translations', models.JSONField(blank=True, default=dict)),
                ('group', models.CharField(choices=[('inflammatory', 'Inflammatory'), ('infectious', 'Infectious'), ('pigmentary', 'Pigmentary'), ('hair_nail', 'Hair and nail'), ('benign_neoplasm', 'Benign neoplasm'), ('premalignant', 'Premalignant'), ('malignant_neoplasm', 'Malignant neoplasm'), ('vascular', 'Vascular'), ('other', 'Other')], max_length=40)),
                ('malignant', models.BooleanField(default=False)),
                ('icd10', models.CharField(blank=True, max_length=20)),
                ('order', models.PositiveIntegerField(default=0)),
            ],
            options={
                'db_table': 'readerstudy_condition',
                'ordering': ['taxonomy', 'order', 'code'],
            },
        ),
        migrations.CreateModel(
            name='ManagementOption',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=40)),
                ('label', models.CharField(max_length=100)),
                ('translations', models.JSONField(blank=True, default=dict)),
                ('order', models.PositiveIntegerField(default=0)),
            ],
            options={
                'db_table': 'readerstudy_managementoption',
                'ordering': ['taxonomy', 'order'],
            },
        ),
        migrations.CreateModel(
            name='CaseSet',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, unique=True)),
                ('description', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'readerstudy_caseset',
            },
        ),
        migrations.CreateModel(
            name='Case',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(help_text='The case id from the manifest.', max_length=100)),
                ('age', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('sex', models.CharField(choices=[('F', 'Female'), ('M', 'Male'), ('O', 'Other'), ('U', 'Unknown')], default='U', max_length=1)),
                ('body_site', models.CharField(blank=True, max_length=100)),
                ('fitzpatrick', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('duration', models.CharField(blank=True, max_length=100)),
                ('history', models.TextField(blank=True)),
                ('extra', models.JSONField(blank=True, default=dict)),
                ('translations', models.JSONField(blank=True, default=dict, help_text='Case text per language: {"history": {"zh-hans": "..."}, "body_site": {...}, "duration": {...}}.')),
                ('reference_source', models.CharField(choices=[('histopathology', 'Histopathology'), ('expert_panel', 'Expert panel'), ('follow_up', 'Follow-up'), ('clinical', 'Clinical diagnosis')], max_length=20)),
                ('case_set', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='cases', to='catalog.caseset')),
                ('reference', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reference_cases', to='catalog.condition')),
                ('reference_management', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.managementoption')),
            ],
            options={
                'db_table': 'readerstudy_case',
                'ordering': ['case_set', 'key'],
            },
        ),
        migrations.CreateModel(
            name='ManagementRating',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rating', models.CharField(choices=[('optimal', 'Optimal'), ('appropriate', 'Appropriate'), ('inappropriate', 'Inappropriate'), ('dangerous', 'Dangerous')], max_length=20)),
                ('condition', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='management_ratings', to='catalog.condition')),
                ('management', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to='catalog.managementoption')),
            ],
            options={
                'db_table': 'readerstudy_managementrating',
            },
        ),
        migrations.CreateModel(
            name='Taxonomy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('version', models.CharField(max_length=30)),
                ('description', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'verbose_name_plural': 'taxonomies',
                'db_table': 'readerstudy_taxonomy',
                'ordering': ['name', 'version'],
                'constraints': [models.UniqueConstraint(fields=('name', 'version'), name='taxonomy_name_version_unique')],
            },
        ),
        migrations.AddField(
            model_name='managementoption',
            name='taxonomy',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='management_options', to='catalog.taxonomy'),
        ),
        migrations.AddField(
            model_name='condition',
            name='taxonomy',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conditions', to='catalog.taxonomy'),
        ),
        migrations.AddField(
            model_name='caseset',
            name='taxonomy',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='case_sets', to='catalog.taxonomy'),
        ),
        migrations.CreateModel(
            name='CaseImage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('clinical', 'Clinical'), ('dermoscopic', 'Dermoscopic'), ('other', 'Other')], max_length=20)),
                ('order', models.PositiveSmallIntegerField(default=0)),
                ('file', models.CharField(help_text='Path under MEDIA_ROOT, named by content hash.', max_length=300)),
                ('thumbnail', models.CharField(max_length=300)),
                ('sha256', models.CharField(db_index=True, max_length=64)),
                ('width', models.PositiveIntegerField()),
                ('height', models.PositiveIntegerField()),
                ('original_name', models.CharField(blank=True, max_length=300)),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='images', to='catalog.case')),
            ],
            options={
                'db_table': 'readerstudy_caseimage',
                'ordering': ['case', 'order'],
                'constraints': [models.UniqueConstraint(fields=('case', 'order'), name='case_image_order_unique')],
            },
        ),
        migrations.AddConstraint(
            model_name='case',
            constraint=models.UniqueConstraint(fields=('case_set', 'key'), name='case_key_unique'),
        ),
        migrations.AddConstraint(
            model_name='case',
            constraint=models.CheckConstraint(condition=models.Q(('fitzpatrick__isnull', True), models.Q(('fitzpatrick__gte', 1), ('fitzpatrick__lte', 6)), _connector='OR'), name='case_fitzpatrick_range'),
        ),
        migrations.AddConstraint(
            model_name='case',
            constraint=models.CheckConstraint(condition=models.Q(('age__isnull', True), ('age__lte', 130), _connector='OR'), name='case_age_range'),
        ),
        migrations.AddConstraint(
            model_name='managementrating',
            constraint=models.UniqueConstraint(fields=('condition', 'management'), name='management_rating_unique'),
        ),
        migrations.AddConstraint(
            model_name='managementoption',
            constraint=models.UniqueConstraint(fields=('taxonomy', 'code'), name='management_code_unique'),
        ),
        migrations.AddConstraint(
            model_name='condition',
            constraint=models.UniqueConstraint(fields=('taxonomy', 'code'), name='condition_code_unique'),
        ),
    ]

"""Studies, people, schedules, readings and analysis runs.

A database made before the app split has this migration recorded under the same name (its old
0002-0008 are folded in here and into common 0001 / catalog 0001), so it is not run there again.
"""

import django.db.models.deletion
import readerstudy.models.studies
from django.conf import settings
from django.db import migrations, models

from common.append_only import create_append_only_trigger, drop_append_only_trigger


def append_only(apps, schema_editor):
    create_append_only_trigger(schema_editor, "readerstudy_reading")


def not_append_only(apps, schema_editor):
    drop_append_only_trigger(schema_editor, "readerstudy_reading")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('catalog', '0001_initial'),
        ('inference', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Arm',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(max_length=40)),
                ('label', models.CharField(max_length=100)),
                ('kind', models.CharField(choices=[('unaided', 'Unaided'), ('ai', 'AI-assisted')], max_length=10)),
                ('order', models.PositiveSmallIntegerField(default=0)),
                ('assist', models.JSONField(blank=True, default=dict, help_text='AI display: top_k, show_probabilities, faulty_rate.')),
            ],
            options={
                'ordering': ['study', 'order'],
            },
        ),
        migrations.CreateModel(
            name='Site',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('country', models.CharField(blank=True, max_length=60)),
                ('default_language', models.CharField(choices=[('en', 'English'), ('zh-hans', 'Simplified Chinese'), ('es', 'Spanish'), ('de', 'German'), ('fr', 'French')], default='en', max_length=10)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['study', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='Membership',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('coordinator', 'Coordinator'), ('reader', 'Reader'), ('statistician', 'Statistician')], max_length=20)),
                ('pseudonym', models.CharField(help_text='Reader id used in exports.', max_length=20)),
                ('reader_index', models.PositiveIntegerField(blank=True, help_text='Enrolment order of readers.', null=True)),
                ('consented_at', models.DateTimeField(blank=True, null=True)),
                ('demographics_done', models.BooleanField(default=False)),
                ('instructions_seen', models.BooleanField(default=False)),
                ('session1_completed_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL)),
                ('site', models.ForeignKey(blank=True, help_text="Set when the reader joined through a site's invitation link.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='memberships', to='readerstudy.site')),
            ],
        ),
        migrations.CreateModel(
            name='ScheduleItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveIntegerField()),
                ('phase', models.PositiveSmallIntegerField(default=1)),
                ('session', models.PositiveSmallIntegerField(default=1)),
                ('training', models.BooleanField(default=False)),
                ('repeat', models.BooleanField(default=False)),
                ('shown_at', models.DateTimeField(blank=True, null=True)),
                ('arm', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='schedule_items', to='readerstudy.arm')),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='schedule_items', to='catalog.case')),
                ('membership', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='schedule_items', to='readerstudy.membership')),
            ],
            options={
                'ordering': ['membership', 'position'],
            },
        ),
        migrations.CreateModel(
            name='ReadingDraft',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('data', models.JSONField(default=dict)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('schedule_item', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='draft', to='readerstudy.scheduleitem')),
            ],
        ),
        migrations.CreateModel(
            name='Study',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('title', models.CharField(max_length=200)),
                ('slug', models.SlugField(max_length=80, unique=True)),
                ('description', models.TextField(blank=True)),
                ('design', models.CharField(choices=[('sequential', 'Sequential (unaided, then AI, revise)'), ('randomised_blocks', 'Randomised blocks'), ('crossover', 'Crossover with washout'), ('parallel', 'Parallel groups'), ('benchmark', 'Benchmark (unaided only)')], max_length=30)),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('launched', 'Launched'), ('paused', 'Paused'), ('closed', 'Closed')], default='draft', max_length=20)),
                ('seed', models.BigIntegerField(default=0)),
                ('settings', models.JSONField(blank=True, default=dict, help_text='Answer form and study options.')),
                ('instructions', models.TextField(blank=True)),
                ('consent_text', models.TextField(blank=True)),
                ('consent_version', models.CharField(default='1', max_length=30)),
                ('languages', models.JSONField(blank=True, default=readerstudy.models.studies.default_study_languages, help_text='Languages offered to readers (codes of StudyLanguage); texts must exist in each to launch.')),
                ('default_language', models.CharField(choices=[('en', 'English'), ('zh-hans', 'Simplified Chinese'), ('es', 'Spanish'), ('de', 'German'), ('fr', 'French')], default='en', max_length=10)),
                ('texts_frozen', models.JSONField(blank=True, default=dict, help_text='The current per-language study texts, copied at launch: {kind: {language: [version, text]}}.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('launched_at', models.DateTimeField(blank=True, null=True)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('case_set', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='studies', to='catalog.caseset')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('model_version', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='studies', to='inference.modelversion')),
            ],
            options={
                'verbose_name_plural': 'studies',
                'ordering': ['-created_at'],
            },
        ),
        migrations.AddField(
            model_name='site',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='sites', to='readerstudy.study'),
        ),
        migrations.AddField(
            model_name='scheduleitem',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='schedule_items', to='readerstudy.study'),
        ),
        migrations.AddField(
            model_name='membership',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='readerstudy.study'),
        ),
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.CharField(max_length=64, unique=True)),
                ('role', models.CharField(choices=[('coordinator', 'Coordinator'), ('reader', 'Reader'), ('statistician', 'Statistician')], default='reader', max_length=20)),
                ('single_use', models.BooleanField(default=True)),
                ('max_uses', models.PositiveIntegerField(blank=True, help_text='Cap for open links.', null=True)),
                ('uses', models.PositiveIntegerField(default=0)),
                ('email', models.EmailField(blank=True, max_length=254)),
                ('label', models.CharField(blank=True, help_text='Where the link was sent, e.g. “clinic A”.', max_length=100)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('revoked', models.BooleanField(default=False)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('site', models.ForeignKey(blank=True, help_text='Readers joining through this link belong to this site.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invitations', to='readerstudy.site')),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='readerstudy.study')),
            ],
        ),
        migrations.AddField(
            model_name='arm',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='arms', to='readerstudy.study'),
        ),
        migrations.CreateModel(
            name='AnalysisRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(default='compare', max_length=20)),
                ('params', models.JSONField(default=dict)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=20)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('results', models.JSONField(blank=True, null=True)),
                ('report_path', models.CharField(blank=True, max_length=300)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='analysis_runs', to='readerstudy.study')),
            ],
        ),
        migrations.CreateModel(
            name='StudyText',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('consent', 'Consent text'), ('instructions', 'Instructions')], max_length=20)),
                ('language', models.CharField(choices=[('en', 'English'), ('zh-hans', 'Simplified Chinese'), ('es', 'Spanish'), ('de', 'German'), ('fr', 'French')], max_length=10)),
                ('version', models.PositiveIntegerField()),
                ('text', models.TextField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='texts', to='readerstudy.study')),
            ],
            options={
                'ordering': ['study', 'kind', 'language', '-version'],
            },
        ),
        migrations.CreateModel(
            name='ConsentRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('consent_version', models.CharField(max_length=30)),
                ('text_sha256', models.CharField(max_length=64)),
                ('language', models.CharField(blank=True, default='', help_text='Language of the text shown.', max_length=10)),
                ('text_version', models.PositiveIntegerField(blank=True, help_text="Version of the per-language consent text shown (none: the study's own field).", null=True)),
                ('consented_at', models.DateTimeField(auto_now_add=True)),
                ('membership', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='consents', to='readerstudy.membership')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('membership', 'consent_version'), name='consent_once_per_version')],
            },
        ),
        migrations.CreateModel(
            name='ReaderProfile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('profession', models.CharField(choices=[('gp', 'General practitioner'), ('nurse', 'Nurse'), ('dermatologist', 'Dermatologist'), ('derm_trainee', 'Dermatology trainee'), ('other_doctor', 'Other physician'), ('student', 'Medical student'), ('other', 'Other')], max_length=20)),
                ('years_experience', models.PositiveSmallIntegerField()),
                ('dermoscopy_use', models.CharField(choices=[('never', 'Never'), ('sometimes', 'Sometimes'), ('regularly', 'Regularly')], max_length=20)),
                ('country', models.CharField(max_length=60)),
                ('age_band', models.CharField(choices=[('<30', 'Under 30'), ('30-39', '30-39'), ('40-49', '40-49'), ('50-59', '50-59'), ('60+', '60 or over')], max_length=10)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='reader_profile', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('years_experience__lte', 70)), name='profile_years_range')],
            },
        ),
        migrations.CreateModel(
            name='Reading',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('idempotency_key', models.UUIDField(unique=True)),
                ('differential', models.JSONField(help_text='Condition codes, most likely first.')),
                ('confidence', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('management', models.CharField(blank=True, max_length=40)),
                ('malignancy_score', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('other_text', models.CharField(blank=True, default='', help_text='Free text of an "Other / not listed" diagnosis (code OTHER in the differential).', max_length=200)),
                ('shown_at', models.DateTimeField()),
                ('first_input_at', models.DateTimeField(blank=True, null=True)),
                ('submitted_at', models.DateTimeField()),
                ('active_ms', models.PositiveIntegerField(default=0)),
                ('timed_out', models.BooleanField(default=False)),
                ('ai_snapshot', models.JSONField(blank=True, help_text='Exactly what AI output was displayed.', null=True)),
                ('language', models.CharField(blank=True, default='', help_text="The reader's interface language when the answer was given.", max_length=10)),
                ('schedule_item', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='reading', to='readerstudy.scheduleitem')),
                ('site', models.ForeignKey(blank=True, help_text="The reader's site when the answer was given.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='readerstudy.site')),
            ],
            options={
                'ordering': ['submitted_at'],
                'constraints': [models.CheckConstraint(condition=models.Q(('confidence__isnull', True), models.Q(('confidence__gte', 1), ('confidence__lte', 5)), _connector='OR'), name='reading_confidence_range'), models.CheckConstraint(condition=models.Q(('malignancy_score__isnull', True), ('malignancy_score__lte', 100), _connector='OR'), name='reading_malignancy_range')],
            },
        ),
        migrations.CreateModel(
            name='MembershipDemographics',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('profession', models.CharField(choices=[('gp', 'General practitioner'), ('nurse', 'Nurse'), ('dermatologist', 'Dermatologist'), ('derm_trainee', 'Dermatology trainee'), ('other_doctor', 'Other physician'), ('student', 'Medical student'), ('other', 'Other')], max_length=20)),
                ('years_experience', models.PositiveSmallIntegerField()),
                ('dermoscopy_use', models.CharField(choices=[('never', 'Never'), ('sometimes', 'Sometimes'), ('regularly', 'Regularly')], max_length=20)),
                ('country', models.CharField(max_length=60)),
                ('age_band', models.CharField(choices=[('<30', 'Under 30'), ('30-39', '30-39'), ('40-49', '40-49'), ('50-59', '50-59'), ('60+', '60 or over')], max_length=10)),
                ('language', models.CharField(blank=True, default='', help_text='Interface language when answered.', max_length=10)),
                ('given_at', models.DateTimeField(auto_now_add=True)),
                ('corrected_at', models.DateTimeField(blank=True, null=True)),
                ('membership', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='demographics', to='readerstudy.membership')),
                ('site', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='readerstudy.site')),
            ],
            options={
                'verbose_name_plural': 'membership demographics',
                'constraints': [models.CheckConstraint(condition=models.Q(('years_experience__lte', 70)), name='demographics_years_range')],
            },
        ),
        migrations.AddConstraint(
            model_name='site',
            constraint=models.UniqueConstraint(fields=('study', 'name'), name='site_name_unique'),
        ),
        migrations.AddIndex(
            model_name='scheduleitem',
            index=models.Index(fields=['study', 'case'], name='readerstudy_study_i_00cbaa_idx'),
        ),
        migrations.AddConstraint(
            model_name='scheduleitem',
            constraint=models.UniqueConstraint(fields=('membership', 'position'), name='schedule_position_unique'),
        ),
        migrations.AddConstraint(
            model_name='scheduleitem',
            constraint=models.CheckConstraint(condition=models.Q(('phase__in', [1, 2])), name='schedule_phase_valid'),
        ),
        migrations.AddConstraint(
            model_name='scheduleitem',
            constraint=models.CheckConstraint(condition=models.Q(('session__in', [1, 2])), name='schedule_session_valid'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.UniqueConstraint(fields=('study', 'user'), name='membership_unique'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.UniqueConstraint(fields=('study', 'pseudonym'), name='membership_pseudonym_unique'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.UniqueConstraint(condition=models.Q(('reader_index__isnull', False)), fields=('study', 'reader_index'), name='membership_reader_index_unique'),
        ),
        migrations.AddConstraint(
            model_name='arm',
            constraint=models.UniqueConstraint(fields=('study', 'name'), name='arm_name_unique'),
        ),
        migrations.AddConstraint(
            model_name='studytext',
            constraint=models.UniqueConstraint(fields=('study', 'kind', 'language', 'version'), name='study_text_version_unique'),
        ),
        migrations.RunPython(append_only, not_append_only),
    ]

"""Model versions, outputs, embedding caches, jobs and evaluations.

A database made before the app split has this migration recorded under the same name (its old
0002/0003 are folded in); 0002 removes the old job -> study column there.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('catalog', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='ModelVersion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('kind', models.CharField(choices=[('open_clip', 'open_clip model'), ('simulated', 'Simulated assistant'), ('untrained_demo', 'Untrained demo model')], max_length=20)),
                ('architecture', models.CharField(blank=True, max_length=100)),
                ('checkpoint_path', models.CharField(blank=True, max_length=500)),
                ('weights_sha256', models.CharField(blank=True, max_length=64)),
                ('preprocessing', models.JSONField(blank=True, default=dict)),
                ('prompt_templates', models.JSONField(blank=True, default=list)),
                ('fusion_weights', models.JSONField(blank=True, default=dict, help_text='Image role -> weight.')),
                ('temperature', models.FloatField(default=1.0)),
                ('calibrated', models.BooleanField(default=False)),
                ('calibration', models.JSONField(blank=True, default=dict)),
                ('config', models.JSONField(blank=True, default=dict, help_text='Simulated assistant: accuracy, faulty_rate.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name='ModelEvaluation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('results', models.JSONField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('case_set', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.caseset')),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='evaluations', to='inference.modelversion')),
            ],
        ),
        migrations.CreateModel(
            name='PrecomputeJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('total', models.PositiveIntegerField(default=0)),
                ('done', models.PositiveIntegerField(default=0)),
                ('failed', models.PositiveIntegerField(default=0)),
                ('images_per_s', models.FloatField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('worker', models.CharField(blank=True, help_text='host:pid of the process running the job.', max_length=200)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('case_set', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.caseset')),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='jobs', to='inference.modelversion')),
            ],
        ),
        migrations.CreateModel(
            name='ModelOutput',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('done', 'Done'), ('failed', 'Failed')], default='done', max_length=10)),
                ('probabilities', models.JSONField(blank=True, default=dict, help_text='Condition code -> probability.')),
                ('top_codes', models.JSONField(blank=True, default=list)),
                ('error', models.TextField(blank=True)),
                ('frozen', models.BooleanField(default=False)),
                ('details', models.JSONField(blank=True, default=dict, help_text='Temperature, fused logits, image roles; for simulated outputs simulated/faulty flags.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='model_outputs', to='catalog.case')),
                ('taxonomy', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.taxonomy')),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='outputs', to='inference.modelversion')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('case', 'model_version'), name='model_output_once_per_case')],
            },
        ),
        migrations.CreateModel(
            name='ImageEmbedding',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('image_sha256', models.CharField(max_length=64)),
                ('vector', models.BinaryField()),
                ('dim', models.PositiveIntegerField()),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='image_embeddings', to='inference.modelversion')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('model_version', 'image_sha256'), name='image_embedding_unique')],
            },
        ),
        migrations.CreateModel(
            name='TextEmbedding',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('templates_sha256', models.CharField(max_length=64)),
                ('codes', models.JSONField()),
                ('vectors', models.BinaryField()),
                ('dim', models.PositiveIntegerField()),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='text_embeddings', to='inference.modelversion')),
                ('taxonomy', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.taxonomy')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('model_version', 'taxonomy', 'templates_sha256'), name='text_embedding_unique')],
            },
        ),
    ]

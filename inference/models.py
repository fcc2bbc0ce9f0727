"""Model versions, their precomputed outputs, embedding caches and precompute jobs."""

from __future__ import annotations

from django.db import models


class ModelKind(models.TextChoices):
    OPEN_CLIP = "open_clip", "open_clip model"
    SIMULATED = "simulated", "Simulated assistant"
    UNTRAINED_DEMO = "untrained_demo", "Untrained demo model"


class ModelVersion(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=ModelKind.choices)
    architecture = models.CharField(max_length=100, blank=True)
    checkpoint_path = models.CharField(max_length=500, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    preprocessing = models.JSONField(default=dict, blank=True)
    prompt_templates = models.JSONField(default=list, blank=True)
    fusion_weights = models.JSONField(default=dict, blank=True, help_text="Image role -> weight.")
    temperature = models.FloatField(default=1.0)
    calibrated = models.BooleanField(default=False)
    calibration = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Simulated assistant: accuracy, faulty_rate.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class OutputStatus(models.TextChoices):
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ModelOutput(models.Model):
    """Probabilities over a taxonomy for one case; frozen once shown in a launched study."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="outputs")
    case = models.ForeignKey("catalog.Case", on_delete=models.CASCADE, related_name="model_outputs")
    taxonomy = models.ForeignKey("catalog.Taxonomy", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=OutputStatus.choices, default=OutputStatus.DONE)
    probabilities = models.JSONField(default=dict, blank=True, help_text="Condition code -> probability.")
    top_codes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    frozen = models.BooleanField(default=False)
    details = models.JSONField(
        default=dict, blank=True,
        help_text="Temperature, fused logits, image roles; for simulated outputs simulated/faulty flags.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "model_version"], name="model_output_once_per_case")
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}/{self.case_id}: {self.status}"


class ImageEmbedding(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="image_embeddings")
    image_sha256 = models.CharField(max_length=64)
    vector = models.BinaryField()
    dim = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "image_sha256"], name="image_embedding_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}/{self.image_sha256[:12]}"


class TextEmbedding(models.Model):
    """Prompt-ensemble class embeddings cached per (model version, taxonomy, templates)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="text_embeddings")
    taxonomy = models.ForeignKey("catalog.Taxonomy", on_delete=models.CASCADE, related_name="+")
    templates_sha256 = models.CharField(max_length=64)
    codes = models.JSONField()
    vectors = models.BinaryField()
    dim = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "taxonomy", "templates_sha256"], name="text_embedding_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}/{self.taxonomy_id}/{self.templates_sha256[:12]}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class PrecomputeJob(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="jobs")
    case_set = models.ForeignKey("catalog.CaseSet", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    images_per_s = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running the job.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"precompute {self.pk} ({self.status})"


class ModelEvaluation(models.Model):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    case_set = models.ForeignKey("catalog.CaseSet", on_delete=models.CASCADE, related_name="+")
    results = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"evaluation {self.pk} of {self.model_version_id} on {self.case_set_id}"


class DisplayKind(models.TextChoices):
    """AI displays beyond the differential (which is the ModelOutput itself)."""

    MALIGNANCY = "malignancy", "Malignancy gauge"
    SIMILAR_CASES = "similar_cases", "Similar cases"
    CONCEPTS = "concepts", "Concept findings"
    LEARNED_CONCEPTS = "learned_concepts", "Learned concepts"


class DisplayOutput(models.Model):
    """One precomputed AI display of one case by one model version (computed on workers, never on
    request); frozen once a launched study shows it. `params_sha256` hashes what the payload depends
    on besides model and case (vocabulary version, N, threshold, library, concept model)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="display_outputs")
    case = models.ForeignKey("catalog.Case", on_delete=models.CASCADE, related_name="display_outputs")
    kind = models.CharField(max_length=20, choices=DisplayKind.choices)
    library = models.ForeignKey("catalog.CaseSet", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                help_text="Similar cases: the reference library searched.")
    params_sha256 = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=OutputStatus.choices, default=OutputStatus.DONE)
    payload = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    frozen = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "case", "kind", "params_sha256"],
                                    name="display_output_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.model_version_id}/{self.case_id}: {self.status}"


class ConceptModel(models.Model):
    """A sparse autoencoder trained on a model's image embeddings (`manage.py train_concepts`), with its
    named latents; a versioned artefact: a new training makes a new row."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="concept_models")
    name = models.CharField(max_length=100, unique=True)
    case_sets = models.JSONField(default=list, help_text="Names of the case sets it was trained on.")
    config = models.JSONField(default=dict, help_text="Expansion, L1 penalty, steps, seed, vocabulary version.")
    stats = models.JSONField(default=dict, help_text="Reconstruction error (FVU), L0, dead share, latents named.")
    latent_names = models.JSONField(default=list)
    weights = models.BinaryField(help_text="npz of encoder and decoder weights.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class DisplayJob(models.Model):
    """Precompute of AI displays (DisplayOutput rows) for a case set: progress like a PrecomputeJob's.

    `total` counts cases; a case is done when every kind of the job is stored for it, failed when
    one kind failed. `params` holds what the outputs depend on (concept model name)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="display_jobs")
    case_set = models.ForeignKey("catalog.CaseSet", on_delete=models.CASCADE, related_name="+")
    library = models.ForeignKey("catalog.CaseSet", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kinds = models.JSONField(default=list, help_text="DisplayKind values, sorted.")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    images_per_s = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running the job.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"display job {self.pk} ({self.status})"

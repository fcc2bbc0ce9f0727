import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from inference.models import JobStatus, ModelVersion, PrecomputeJob
from inference.precompute import precompute_fail, precompute_run
from readerstudy.models import Study
from readerstudy.services.studies.ai import study_precompute_start


class Command(BaseCommand):
    help = "Precompute a study's AI outputs with a model version, with a progress bar. Reruns skip finished cases."

    def add_arguments(self, parser):
        parser.add_argument("study", help="Study slug.")
        parser.add_argument("--model", required=True, help="Model version name.")
        parser.add_argument("--on-workers", action="store_true",
                            help="Queue the job for the Celery inference workers and follow its progress.")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args, study, model, on_workers, batch_size, **options):
        try:
            study_obj = Study.objects.select_related("case_set").get(slug=study)
            version = ModelVersion.objects.get(name=model)
        except (Study.DoesNotExist, ModelVersion.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc
        if study_obj.model_version_id not in (None, version.pk):
            self.stderr.write(f"Note: the study's model version is {study_obj.model_version}, not {version}.")
        if on_workers:
            job = study_precompute_start(study=study_obj, model_version=version)
            job = self._follow(job.pk)
        else:
            job = PrecomputeJob.objects.create(model_version=version, case_set=study_obj.case_set,
                                               total=study_obj.case_set.cases.count())
            with tqdm(total=job.total, unit="case", desc=model) as bar:
                def update(j):
                    bar.n = j.done + j.failed
                    bar.set_postfix(failed=j.failed, img_s=f"{j.images_per_s or 0:.1f}")
                    bar.refresh()

                try:
                    job = precompute_run(job.pk, on_progress=update, batch_size=batch_size)
                except Exception as exc:
                    precompute_fail(job.pk, f"{exc.__class__.__name__}: {exc}")
                    raise CommandError(f"{exc.__class__.__name__}: {exc}") from exc
        style = self.style.SUCCESS if job.status == JobStatus.DONE and not job.failed else self.style.WARNING
        self.stdout.write(style(f"Job {job.pk} {job.status}: {job.done} done, {job.failed} failed of {job.total}"))
        if job.status == JobStatus.FAILED:
            raise CommandError(job.error)

    def _follow(self, job_id: int) -> PrecomputeJob:
        job = PrecomputeJob.objects.get(pk=job_id)
        with tqdm(total=job.total, unit="case") as bar:
            while True:
                job.refresh_from_db()
                bar.n = job.done + job.failed
                bar.set_postfix(status=job.status, img_s=f"{job.images_per_s or 0:.1f}")
                bar.refresh()
                if job.status in (JobStatus.DONE, JobStatus.FAILED):
                    return job
                time.sleep(1)

"""Studies with three or four arms, through the services (issue 14, "Studies").

Create, enrol (before and after launch), launch; the stored schedules keep what
readerstudy.core.scheduling promises for k arms: randomised blocks cycle every arm and balance each
case across the arms, parallel groups are balanced over the k arms, a sequential reader gets one AI
arm for phase 2 (and training), balanced over the AI arms. Launch and the study form refuse the
arm sets a design cannot randomise, each with its message.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import groupby

import pytest
from django.urls import reverse

from readerstudy.core.scheduling import reader_schedule, sequential_ai_arm
from readerstudy.models import ArmKind, Membership, Role, ScheduleItem, Study, StudyStatus
from readerstudy.services import studies
from readerstudy.services.studies import ArmSpec, StudyError
from tests.factories import UserFactory

from .studies_helpers import case_set_with, enrol_readers, make_study, model_version_for

pytestmark = pytest.mark.django_db


def ai_arm(name: str, top_k: int, faulty_rate: float = 0.0) -> ArmSpec:
    return ArmSpec(name, name.title(), ArmKind.AI, {"top_k": top_k, "show_probabilities": True,
                                                    "faulty_rate": faulty_rate})


UNAIDED = ArmSpec("unaided", "Unaided", ArmKind.UNAIDED)
TOP1, TOP3, TOP5 = ai_arm("top1", 1), ai_arm("top3", 3), ai_arm("top5", 5, 0.1)


def launched(design: str, arms: list[ArmSpec], *, n_cases: int, before: int, after: int,
             settings: dict | None = None) -> Study:
    """A study launched with `before` readers enrolled in the draft, then `after` more enrolled live."""
    study = make_study(design=design, n_cases=n_cases, arms=arms, settings=settings)
    enrol_readers(study, before)
    studies.study_launch(study=study, actor=None)
    enrol_readers(study, after)
    study.refresh_from_db()
    assert study.status == StudyStatus.LAUNCHED
    return study


def readers(study: Study) -> list[Membership]:
    return list(study.memberships.filter(role=Role.READER).order_by("reader_index"))


def stored(membership: Membership) -> list[tuple]:
    return list(ScheduleItem.objects.filter(membership=membership).order_by("position").values_list(
        "position", "case__key", "arm__name", "phase", "session", "training", "repeat"))


def scheduled(study: Study, membership: Membership) -> list[tuple]:
    """What the pure scheduler gives this reader: the stored rows must be exactly this."""
    plan = studies.schedule_plan(study)
    return [(i.position, i.case, i.arm, i.phase, i.session, i.training, i.repeat)
            for i in reader_schedule(plan.spec, plan.cases, study.seed, membership.reader_index)]


def launch_messages(study: Study) -> list[str]:
    with pytest.raises(StudyError) as excinfo:
        studies.study_launch(study=study, actor=None)
    study.refresh_from_db()
    assert study.status == StudyStatus.DRAFT and not ScheduleItem.objects.filter(study=study).exists()
    return excinfo.value.problems


# --- the arm sets each design takes ---------------------------------------------------------------


def test_the_scheduler_gets_control_first_then_the_ai_arms_in_order():
    # Stored in the order given, with the unaided arm listed last: the spec still starts with it.
    study = make_study(design="randomised_blocks", n_cases=4, arms=[TOP5, TOP1, UNAIDED, TOP3])
    assert list(study.arms.order_by("order").values_list("name", flat=True)) == ["top5", "top1", "unaided", "top3"]
    assert studies.schedule_plan(study).spec.arms == ("unaided", "top5", "top1", "top3")


def test_randomised_blocks_with_four_arms_cycle_and_balance_each_case():
    # 10 cases, 4 arms, 8 readers (5 enrolled in the draft, 3 once it runs), blocks of 2.
    study = launched("randomised_blocks", [UNAIDED, TOP1, TOP3, TOP5], n_cases=10, before=5, after=3,
                     settings={"block_size": 2})
    members = readers(study)
    assert [m.reader_index for m in members] == list(range(8))
    per_case: dict[str, Counter] = {}
    for membership in members:
        rows = stored(membership)
        assert rows == scheduled(study, membership)
        assert len(rows) == 10 and {row[3] for row in rows} == {1} and {row[4] for row in rows} == {1}
        counts = Counter(row[2] for row in rows)
        # 10 readings over 4 arms: two arms get 3, two get 2.
        assert sorted(counts.values()) == [2, 2, 3, 3], counts
        runs = [(arm, len(list(run))) for arm, run in groupby(row[2] for row in rows)]
        assert all(length <= 2 for _, length in runs), runs  # a block never grows past block_size
        assert {arm for arm, _ in runs[:4]} == {"unaided", "top1", "top3", "top5"}, runs  # one cycle = every arm
        for _, case, arm, *_rest in rows:
            per_case.setdefault(case, Counter())[arm] += 1
    # 8 readers read every case; its arm runs through all 4 arms in every 4 readings: twice each.
    assert len(per_case) == 10
    assert all(counts == {"unaided": 2, "top1": 2, "top3": 2, "top5": 2} for counts in per_case.values()), per_case


def test_parallel_groups_balanced_over_four_arms_as_readers_join():
    study = launched("parallel", [UNAIDED, TOP1, TOP3, TOP5], n_cases=5, before=3, after=5)
    arm_of = []
    for membership in readers(study):
        rows = stored(membership)
        assert rows == scheduled(study, membership)
        arms = {row[2] for row in rows}
        assert len(arms) == 1 and len(rows) == 5  # a parallel reader reads every case in one arm
        arm_of.append(arms.pop())
    # Permuted blocks of the 4 arms: the first 4 readers cover each arm once, and so do the next 4.
    assert Counter(arm_of[:4]) == Counter(arm_of[4:]) == {"unaided": 1, "top1": 1, "top3": 1, "top5": 1}
    six = Counter(arm_of[:6])
    assert max(six.values()) - min(six.get(arm, 0) for arm in ("unaided", "top1", "top3", "top5")) <= 1


def test_parallel_without_an_unaided_arm_compares_displays_head_to_head():
    study = launched("parallel", [TOP1, TOP3, TOP5], n_cases=3, before=3, after=0)
    assert studies.schedule_plan(study).spec.arms == ("top1", "top3", "top5")
    groups = Counter(ScheduleItem.objects.filter(study=study).values_list("arm__name", flat=True))
    assert groups == {"top1": 3, "top3": 3, "top5": 3}


def test_sequential_readers_each_get_one_ai_arm_in_phase_two_balanced():
    case_set = case_set_with(5)
    keys = sorted(case_set.cases.values_list("key", flat=True))
    study = studies.study_create(
        actor=UserFactory(), title="Three AI displays", case_set=case_set, design="sequential",
        arms=[UNAIDED, TOP1, TOP3, TOP5], settings={"training_cases": [keys[0]]},
        model_version=model_version_for(case_set), seed=99, consent_text="Voluntary.")
    enrol_readers(study, 4)
    studies.study_launch(study=study, actor=None)
    enrol_readers(study, 5)
    spec = studies.schedule_plan(study).spec
    phase2_arm = []
    for membership in readers(study):
        rows = stored(membership)
        assert rows == scheduled(study, membership)
        training, measured = rows[0], rows[1:]
        chosen = sequential_ai_arm(spec, study.seed, membership.reader_index)
        assert training[1:3] == (keys[0], chosen) and training[5] is True  # training in the reader's AI arm
        assert len(measured) == 8  # 4 measured cases, each unaided then aided
        for first, second in zip(measured[::2], measured[1::2], strict=True):
            assert first[1] == second[1]
            assert (first[2], first[3]) == ("unaided", 1) and (second[2], second[3]) == (chosen, 2)
        phase2_arm.append(chosen)
    # Permuted blocks of the 3 AI arms: each run of 3 readers covers every AI arm once.
    for start in (0, 3, 6):
        assert sorted(phase2_arm[start:start + 3]) == ["top1", "top3", "top5"], phase2_arm
    stored_phase2 = ScheduleItem.objects.filter(study=study, phase=2, training=False)
    assert Counter(stored_phase2.values_list("arm__name", flat=True)) == {"top1": 12, "top3": 12, "top5": 12}


# --- refusals ---------------------------------------------------------------------------------------


SEQUENTIAL = "Sequential (unaided, then AI, revise)"


@pytest.mark.parametrize("design, arms, message", [
    ("crossover", [UNAIDED, TOP1, TOP3],
     "{label} needs exactly one unaided arm and one AI arm (unaided arms: unaided; AI arms: top1, top3): "
     "session 2 reads each case in the other arm, which only two arms define."),
    ("crossover", [TOP1, TOP3],
     "{label} needs exactly one unaided arm and one AI arm (unaided arms: none; AI arms: top1, top3): "
     "session 2 reads each case in the other arm, which only two arms define."),
    ("sequential", [UNAIDED, ArmSpec("unaided2", "Unaided again", ArmKind.UNAIDED), TOP3],
     "{label} needs exactly one unaided arm and at least one AI arm (unaided arms: unaided, unaided2; "
     "AI arms: top3)."),
    ("randomised_blocks", [TOP1, TOP3, TOP5],
     "{label} needs exactly one unaided arm and at least one AI arm (unaided arms: none; AI arms: top1, top3, top5)."),
    ("parallel", [UNAIDED, ArmSpec("unaided2", "Unaided again", ArmKind.UNAIDED), TOP3],
     "{label} needs at least one AI arm and at most one unaided arm (unaided arms: unaided, unaided2; "
     "AI arms: top3)."),
    ("parallel", [UNAIDED, ArmSpec("unaided2", "Unaided again", ArmKind.UNAIDED)],
     "{label} needs at least one AI arm and at most one unaided arm (unaided arms: unaided, unaided2; "
     "AI arms: none)."),
])
def test_launch_refuses_arm_sets_the_design_cannot_randomise(design, arms, message):
    study = make_study(design=design, n_cases=4, arms=arms)
    label = study.get_design_display()
    assert launch_messages(study) == [message.format(label=label)]
    assert studies.arm_problems(design, arms) == [message.format(label=label)]


def test_labels_in_the_messages_are_the_designs_own():
    assert studies.arm_problems("sequential", [UNAIDED])[0].startswith(SEQUENTIAL + " needs")


def test_k_arms_accepted_where_the_design_takes_them():
    for design in ("sequential", "randomised_blocks", "parallel"):
        assert studies.arm_problems(design, [UNAIDED, TOP1, TOP3, TOP5]) == [], design
        assert studies.arm_problems(design, [UNAIDED, TOP3]) == [], design
    assert studies.arm_problems("crossover", [UNAIDED, TOP3]) == []


# --- the study form passes k arms through -------------------------------------------------------------


def _form_data(case_set, design: str, rows: list[tuple[str, str, str]]) -> dict:
    data = {"title": "Four displays", "case_set": case_set.pk, "design": design, "consent_version": "1",
            "consent_text": "Voluntary.", "model_version": model_version_for(case_set).pk, "top_k": 3,
            "ask_confidence": "on", "block_size": 2, "washout_days": 14, "repeat_cases": 0,
            "completion_threshold": 0.95, "ai_top_k": 3, "ai_show_probabilities": "on"}
    for i, (name, label, kind) in enumerate(rows):
        data.update({f"arm-{i}-name": name, f"arm-{i}-label": label, f"arm-{i}-kind": kind})
    return data


FOUR_ROWS = [("unaided", "Unaided", "unaided"), ("top1", "Top-1", "ai"), ("top3", "Top-3", "ai"),
             ("top5", "Top-5", "ai")]


def test_study_form_creates_four_arms_that_launch_and_schedule(client):
    client.force_login(UserFactory(is_staff=True))
    case_set = case_set_with(8)
    response = client.post(reverse("studies:create"), _form_data(case_set, "randomised_blocks", FOUR_ROWS))
    assert response.status_code == 302, response.content.decode()[:2000]
    study = Study.objects.get(title="Four displays")
    assert list(study.arms.order_by("order").values_list("name", "kind")) == [(n, k) for n, _, k in FOUR_ROWS]
    enrol_readers(study, 4)
    studies.study_launch(study=study, actor=None)
    per_case: dict[str, Counter] = {}
    for membership in readers(study):
        for _, case, arm, *_rest in stored(membership):
            per_case.setdefault(case, Counter())[arm] += 1
    # 4 readers, 4 arms: every case is read once in every arm.
    assert all(counts == {"unaided": 1, "top1": 1, "top3": 1, "top5": 1} for counts in per_case.values())


def test_study_form_refuses_three_arms_for_crossover(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.post(reverse("studies:create"), _form_data(case_set_with(4), "crossover", FOUR_ROWS[:3]))
    assert response.status_code == 200 and not Study.objects.exists()
    summary = re.search(r'<div class="error-summary card".*?</div>', response.content.decode(), re.S).group(0)
    assert 'href="#arms"' in summary
    assert ("Crossover" in summary and "needs exactly one unaided arm and one AI arm "
            "(unaided arms: unaided; AI arms: top1, top3)") in summary


def test_study_form_says_how_many_arms_each_design_takes(client):
    client.force_login(UserFactory(is_staff=True))
    page = client.get(reverse("studies:create")).content.decode()  # sequential by default
    assert re.search(r'<span data-designs="sequential randomised_blocks">This design needs one unaided arm '
                     r'and one or more AI-assisted arms\.</span>', page)
    assert re.search(r'<span data-designs="crossover" hidden>This design needs one unaided and one '
                     r'AI-assisted arm\.</span>', page)
    page = client.post(reverse("studies:create"), {"design": "parallel"}).content.decode()
    assert re.search(r'<span data-designs="parallel">Readers are randomised to one of two or more arms\.</span>', page)
    assert re.search(r'<span data-designs="sequential randomised_blocks" hidden>', page)

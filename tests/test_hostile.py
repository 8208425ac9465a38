"""Generated hostile input: every case ends ok or refused in one line, never broken.

A CI-sized sample of tests/hostile.py's generators; ``benchmarks/bench_hostile.py`` runs the
nightly-sized version and reports the counts.
"""

import shutil

import hostile
import pytest
from hypothesis import HealthCheck, given, settings


def hostile_settings(n):
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )


@hostile_settings(30)
@given(text=hostile.scenario_texts())
def test_generated_scenario_files_run_or_are_refused_in_one_line(text, tmp_path_factory):
    v = hostile.scenario_case(text, tmp_path_factory.mktemp("s"))
    assert not v.startswith("BROKEN"), (v, text[:300])


@hostile_settings(25)
@given(state=hostile.folder_states())
def test_generated_folder_states_never_lose_a_foreign_file(state, tmp_path_factory):
    v = hostile.folder_case(state, tmp_path_factory.mktemp("f"))
    assert not v.startswith("BROKEN"), (v, state)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A run folder with checkpoints and no finished run (the outputs removed)."""
    folder = tmp_path_factory.mktemp("ck") / "r"
    code, _, err = hostile.run(["run", *hostile.SEOUL, "--out", str(folder)])
    assert code == 0, err
    for p in folder.iterdir():
        if p.name != "checkpoints":
            p.unlink() if p.is_file() else shutil.rmtree(p)
    return folder


@hostile_settings(25)
@given(edit=hostile.checkpoint_edits())
def test_generated_checkpoint_edits_resume_or_are_refused(edit, checkpointed, tmp_path_factory):
    v = hostile.checkpoint_case(edit, checkpointed, tmp_path_factory.mktemp("c"))
    assert not v.startswith("BROKEN"), (v, edit)

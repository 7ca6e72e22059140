"""The Models screen: adding a model is checked off the GUI thread, removing one says what stays,
and try-it with a model that cannot be found fails in its job with one clear line."""

from __future__ import annotations

import threading
import time

import pytest

from cai_desktop.ui.main_window import MainWindow
from cai_desktop.ui.widgets.errors import close_error_boxes


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    assert w.create_project(tmp_path / "models.caiproj", sample=True)
    w.show_page("models")
    yield w
    w._force_close = True
    w.runner.shutdown(20000)
    close_error_boxes()


def _specs(page):
    """The models (not adapters) try-it offers."""
    return [d[0] for d in (page.combo_a.itemData(i) for i in range(page.combo_a.count())) if d[1] is None]


def _select(page, spec):
    root = page.tree.topLevelItem(1)  # "Added models"
    for i in range(root.childCount()):
        item = root.child(i)
        if (item.data(0, 256) or {}).get("spec") == spec:  # Qt.UserRole
            page.tree.setCurrentItem(item)
            return item
    raise AssertionError(f"{spec} is not listed")


def test_adding_a_model_is_checked_in_the_background(window, qtbot, monkeypatch, tiny_model_dir):
    from cai_desktop.engine import models

    page = window.pages["models"]
    threads, release = [], threading.Event()
    real = models.check_model

    def slow_check(spec):
        threads.append(threading.current_thread())
        release.wait(10)  # a hub look-up waiting on the network
        return real(spec)

    monkeypatch.setattr(models, "check_model", slow_check)
    assert page.add_model(str(tiny_model_dir))
    # add_model returned while the check still waits: nothing is recorded yet, the window is free
    assert "Checking" in page.add_status.text()
    assert str(tiny_model_dir.resolve()) not in _specs(page)
    qtbot.waitUntil(lambda: bool(threads), timeout=5000)
    with qtbot.waitSignal(page.model_added, timeout=10000) as added:
        release.set()
    assert threads[0] is not threading.main_thread()
    assert added.args[0] == str(tiny_model_dir.resolve())
    assert str(tiny_model_dir.resolve()) in _specs(page)
    assert [m["spec"] for m in window.project.models.list()].count(str(tiny_model_dir.resolve())) == 1


def test_adding_a_non_model_is_refused_with_one_line(window, qtbot, tmp_path):
    page = window.pages["models"]
    (tmp_path / "empty").mkdir()
    with qtbot.waitSignal(page.model_refused, timeout=10000) as refused:
        assert page.add_model(str(tmp_path / "empty"))
    assert "no config.json" in refused.args[1] and "\n" not in refused.args[1]
    assert "Not added" in page.add_status.text()
    assert not [m for m in window.project.models.list() if "empty" in m["spec"]]


def test_remove_an_added_model_says_what_stays(window, qtbot, tiny_model_dir, tmp_path):
    page = window.pages["models"]
    spec = str(tiny_model_dir.resolve())
    with qtbot.waitSignal(page.model_added, timeout=10000):
        page.add_model(spec)
    window.project.runs.create("critique", {"model": spec, "limit": 2})
    window.project.adapters.register("sft", tmp_path / "adapter", spec, {})
    page.refresh()
    assert not page.btn_remove.isEnabled()
    page.tree.setCurrentItem(page.tree.topLevelItem(0))  # the embedded model cannot be removed
    assert not page.btn_remove.isEnabled()
    _select(page, spec)
    assert page.btn_remove.isEnabled()
    page.btn_remove.click()
    text = page.add_status.text()
    assert "Removed" in text and "1 run and 1 adapter name it by its spec" in text
    assert "No file was deleted" in text
    assert spec not in [m["spec"] for m in window.project.models.list()]
    assert spec not in _specs(page)
    assert tiny_model_dir.is_dir()
    assert window.project.adapters.list()[0]["base_model_spec"] == spec  # untouched


def test_try_it_with_a_missing_hub_model_fails_in_its_job_with_one_line(window, qtbot, monkeypatch, tmp_path):
    import httpx2
    import huggingface_hub
    from huggingface_hub import errors

    page = window.pages["models"]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    looked_up_in = []

    def missing(ref, local_files_only=False, **kw):
        looked_up_in.append(threading.current_thread())
        if local_files_only:
            raise errors.LocalEntryNotFoundError("not cached")
        time.sleep(0.5)  # the hub answering slowly
        response = httpx2.Response(404, request=httpx2.Request("GET", f"https://huggingface.co/api/models/{ref}"))
        raise errors.RepositoryNotFoundError("404 Repository Not Found", response=response)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    page.combo_a.addItem("missing", ("someorg/missing-model", None))
    page.combo_a.setCurrentIndex(page.combo_a.count() - 1)
    page.prompt.setPlainText("Say hello.")
    ticks = []
    beat = window.startTimer(20)
    window.timerEvent = lambda e: ticks.append(time.monotonic())
    try:
        with qtbot.waitSignal(window.runner.job_ended, timeout=60000):
            page.btn_answer.click()
    finally:
        window.killTimer(beat)
    assert looked_up_in and all(t is not threading.main_thread() for t in looked_up_in)
    assert page.tryit_status.text() == (
        "Failed: Model 'someorg/missing-model' was not found on the hub; check the id (org/name).")
    assert page.btn_answer.isEnabled() and page.last_result is None
    # the event loop kept running while the job looked the model up (a count, not a time)
    assert len(ticks) >= 10


# -- model roles -------------------------------------------------------------------------------
def _pick(combo, spec):
    i = 0 if spec is None else combo.findData(spec)  # the first item is "Not set: ..."
    assert i >= 0, f"{spec} is not offered"
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def test_roles_box_sets_the_teacher_and_shows_fallbacks(window, qtbot, tiny_model_dir):
    page = window.pages["models"]
    spec = str(tiny_model_dir.resolve())
    window.project.models.record(spec, "folder", "tiny-llama")
    page.refresh()
    teacher = page.role_rows["teacher"]
    assert teacher["model"].currentData() is None
    assert "embedded default" in teacher["note"].text()
    assert teacher["device"].isEnabled()  # no student: the teacher's own device counts
    _pick(teacher["model"], spec)
    teacher["device"].setCurrentIndex(teacher["device"].findData("cpu"))
    teacher["device"].activated.emit(teacher["device"].currentIndex())
    teacher["dtype"].setCurrentIndex(teacher["dtype"].findData("bfloat16"))
    teacher["dtype"].activated.emit(teacher["dtype"].currentIndex())
    got = window.project.roles.get("teacher")
    assert (got["spec"], got["device"], got["dtype"], got["inherited"]) == (spec, "cpu", "bfloat16", "")
    assert window.project.roles.get("feedback")["inherited"] == "default"  # the others are untouched

    # reopening the page (a fresh one on the same project) shows it
    from cai_desktop.ui.pages.models import ModelsPage

    again = ModelsPage()
    qtbot.addWidget(again)
    again.set_project(window.project)
    row = again.role_rows["teacher"]
    assert row["model"].currentData() == spec and row["model"].currentText() == "tiny-llama"
    assert row["device"].currentData() == "cpu" and row["dtype"].currentData() == "bfloat16"
    assert again.role_rows["feedback"]["model"].currentData() is None

    # with a student set, clearing the teacher shows that it follows the student
    _pick(again.role_rows["student"]["model"], "default")
    _pick(row["model"], None)
    got = window.project.roles.get("teacher")
    assert got["inherited"] == "student" and got["spec"] == "default"
    assert "same as the student" in row["model"].currentText()
    assert "same as the student" in row["note"].text()
    assert not row["device"].isEnabled()  # follows the student's device and precision


def test_roles_box_checks_a_typed_spec_in_the_background(window, qtbot, monkeypatch, tiny_model_dir, tmp_path):
    from cai_desktop.engine import models

    page = window.pages["models"]
    threads = []
    real = models.check_model

    def check(spec):
        threads.append(threading.current_thread())
        return real(spec)

    monkeypatch.setattr(models, "check_model", check)
    box = page.role_rows["feedback"]["model"]
    spec = str(tiny_model_dir.resolve())
    box.lineEdit().setText(spec)
    with qtbot.waitSignal(page.role_set, timeout=10000) as done:
        box.lineEdit().returnPressed.emit()
    assert threads and threads[0] is not threading.main_thread()
    assert done.args == ["feedback", spec]
    assert window.project.roles.get("feedback")["spec"] == spec
    assert spec in [m["spec"] for m in window.project.models.list()]  # now listed like an added model
    assert page.role_rows["feedback"]["model"].currentData() == spec

    (tmp_path / "empty").mkdir()
    box.lineEdit().setText(str(tmp_path / "empty"))
    with qtbot.waitSignal(page.role_refused, timeout=10000) as refused:
        box.lineEdit().returnPressed.emit()
    assert "no config.json" in refused.args[1]
    assert "not changed" in page.roles_status.text()
    assert window.project.roles.get("feedback")["spec"] == spec  # unchanged
    assert page.role_rows["feedback"]["model"].currentData() == spec


def test_packaged_models_are_offered_for_roles_and_try_it(window, monkeypatch):
    from cai_desktop.engine import models

    page = window.pages["models"]
    monkeypatch.setattr(models, "installed_packaged_models", lambda: [("gemma3-270m", "Gemma 3 270M base")])
    window.project.models.record("gemma3-270m", "packaged", "Gemma 3 270M base")  # as a label job lists it
    page.refresh()
    roots = [page.tree.topLevelItem(i).text(0) for i in range(page.tree.topLevelItemCount())]
    assert roots[-1] == "Shipped by installed packages"
    assert page.tree.topLevelItem(1).child(0).text(0) == "(none yet)"  # not listed twice
    assert "gemma3-270m" in _specs(page) and _specs(page).count("gemma3-270m") == 1
    _pick(page.role_rows["feedback"]["model"], "gemma3-270m")
    assert window.project.roles.get("feedback")["spec"] == "gemma3-270m"

"""The "new run" dialogs are generated from the job declarations (labels, help, ranges, choices)."""

import subprocess
import sys

from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit

from cai_desktop.store.project import Project
from cai_desktop.ui.widgets.forms import ParamsForm
from tests.jobs.test_declared_jobs import ThrowawayParams


def _label_texts(form):
    return [w.text() for w in form.findChildren(QLabel)]


def test_a_field_added_to_a_params_class_appears_in_the_dialog_with_help_and_range(qtbot):
    form = ParamsForm(ThrowawayParams)
    qtbot.addWidget(form)
    assert isinstance(form.widgets["rounds"], QLineEdit) and isinstance(form.widgets["shout"], QCheckBox)
    assert {"Rounds", "Shout"} <= set(_label_texts(form))
    assert "How many rounds" in form.widgets["rounds"].toolTip()
    assert "project" not in form.widgets and "resume_run" not in form.widgets  # hidden fields
    assert form.error(project="p") == ""
    form.widgets["rounds"].setText("12")
    assert form.error(project="p") == "Rounds must be between 1 and 9 (not 12)."
    form.widgets["rounds"].setText("three")
    assert form.error(project="p") == "Rounds: 'three' is not a whole number."
    form.widgets["rounds"].setText("4")
    form.widgets["shout"].setChecked(True)
    p = form.build(project="p")
    assert (p.rounds, p.shout, p.project) == (4, True, "p")


def test_choices_come_from_the_project_by_their_declared_source(qtbot, tmp_path):
    from cai_desktop.jobs.registry import JOBS

    path = tmp_path / "p.caiproj"
    with Project.create(path) as project:
        project.adapters.register("sft", tmp_path / "a1", "base", {}, name="one")
        project.adapters.register("reward", tmp_path / "r1", "base", {}, name="pm")
        form = ParamsForm(JOBS["ppo"].params, project=project)
        qtbot.addWidget(form)
        start = form.widgets["policy_adapter_id"]
        reward = form.widgets["reward_adapter_id"]
        assert isinstance(start, QComboBox) and isinstance(reward, QComboBox)
        assert [start.itemData(i) for i in range(start.count())] == [None, 1]  # only sft/dpo/ppo rows
        assert [reward.itemData(i) for i in range(reward.count())] == [None, 2]
        split = form.widgets["split"]
        assert [split.itemText(i) for i in range(split.count())] == ["train", "test", "all"]
        reward.setCurrentIndex(1)
        assert form.build(project=str(path)).reward_adapter_id == 2


def test_opening_every_run_dialog_loads_no_torch(tmp_path):
    path = tmp_path / "p.caiproj"
    Project.create(path).close()
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from cai_desktop.jobs.registry import LAUNCHABLE\n"
        "from cai_desktop.store.project import Project\n"
        "from cai_desktop.ui.widgets.forms import ParamsDialog\n"
        f"project = Project.open({str(path)!r})\n"
        "for kind in LAUNCHABLE:\n"
        f"    d = ParamsDialog(kind, {str(path)!r}, project=project)\n"
        "    assert d.form.error(project='x') == '', (kind, d.form.error(project='x'))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr

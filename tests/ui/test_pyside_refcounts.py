"""Guard against a PySide6 build that leaks references to None / True (6.12.0 does).

On Python < 3.12, None and True are ordinary refcounted objects: a binding that drops one reference per
void call or per signal emit makes a long session abort with "bool_dealloc" / "none_dealloc" after a few
thousand strokes. Python 3.12+ makes them immortal, so the counts do not move there either way.
"""
import sys

import pytest
from PySide6.QtCore import QCoreApplication, QObject, Signal


class _Emitter(QObject):
    ping = Signal()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True are immortal on Python 3.12+")
def test_void_calls_and_emits_keep_refcounts_of_none_and_true(qapp):
    emitter = _Emitter()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        QCoreApplication.processEvents()
        emitter.ping.emit()
        emitter.setObjectName("x")
    # other code may take or release a few references meanwhile; a leak of one per call loses >= 200
    assert sys.getrefcount(None) > none_before - 50
    assert sys.getrefcount(True) > true_before - 50

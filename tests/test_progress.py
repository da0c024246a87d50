import io

from config.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_redrawn_in_place():
    out = Terminal()
    progress = Progress(out, label="shop", interval=5)
    progress._last -= 1  # pretend time has passed since the last redraw
    progress.update(500, 0.5)
    progress.close()
    text = out.getvalue()
    assert text.startswith("\rshop: [###############...............]  50.0% 500 records")
    assert text.endswith("\n")


def test_logs_get_a_line_per_interval_only():
    out = io.StringIO()
    progress = Progress(out, label="shop", interval=5)
    progress.update(10, 0.1)  # too soon after the start: nothing
    progress._last -= 6
    progress.update(20, 0.2)
    progress.update(30, 0.3)  # too soon again
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("shop: 20 records (20%)")


def test_disabled_progress_prints_nothing():
    out = Terminal()
    progress = Progress(out, label="shop", enabled=False)
    progress.update(1, 1.0)
    progress.close()
    assert out.getvalue() == ""

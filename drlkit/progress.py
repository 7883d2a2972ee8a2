"""Progress bars: tqdm, except that where the output is not a terminal (a log file, CI) each state
is written once. Plain tqdm redraws its final state when it closes, so a log got the last line
twice; in a terminal the redraw overwrites the line in place and nothing changes."""

from __future__ import annotations

from tqdm.auto import tqdm as _tqdm


class tqdm(_tqdm):  # noqa: N801 - a drop-in for tqdm.auto.tqdm
    def display(self, *args, **kwargs):
        if not args and kwargs.get("msg") is None and not _is_terminal(self.fp):
            shown = (self.n, self.total)
            if getattr(self, "_drlkit_shown", None) == shown:
                return True
            self._drlkit_shown = shown
        return super().display(*args, **kwargs)


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False

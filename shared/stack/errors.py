"""The one error the stack raises: what failed, what to do, and the server's last log lines."""

from __future__ import annotations


class StackError(Exception):
    """A stack component could not be installed or started."""

    def __init__(self, what: str, hint: str, log_tail: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint
        self.log_tail = log_tail

    def render(self) -> str:
        """One line saying what failed and what to do, then the log tail if there is one."""
        text = f"error: {self.what} — {self.hint}"
        if self.log_tail.strip():
            text += "\n--- last log lines ---\n" + self.log_tail.rstrip() + "\n---"
        return text

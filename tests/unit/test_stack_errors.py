from shared.stack import StackError


def test_error_renders_one_line_then_the_log_tail() -> None:
    error = StackError("the Kafka broker exited during start-up", "read the log", "line 1\nline 2")
    lines = error.render().splitlines()
    assert lines[0] == "error: the Kafka broker exited during start-up — read the log"
    assert lines[-3:-1] == ["line 1", "line 2"]


def test_error_without_log_is_one_line() -> None:
    assert len(StackError("x", "y").render().splitlines()) == 1

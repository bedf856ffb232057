"""The console's message catalogue: one JSON file per language, Chinese first.

Every label the console shows is a key of `messages/<lang>.json`; both files hold the same
keys. Churn reasons arrive from the scoring API as stable codes with parameters and are
rendered here from `reason.<code>` templates, so a reason reads naturally in either language.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT_LANGUAGE: Language = "zh"
HTML_LANG: Mapping[Language, str] = {"zh": "zh-CN", "en": "en"}

_FOLDER = Path(__file__).parent / "messages"

# Enumerated reason parameters a sentence shows translated (e.g. the worst severity).
_TRANSLATED_PARAMETERS = {"worst_severity": "severity"}


@cache
def catalogue(language: Language) -> Mapping[str, str]:
    """All messages of `language` (read once per process)."""
    loaded: dict[str, str] = json.loads((_FOLDER / f"{language}.json").read_text("utf-8"))
    return loaded


def language_of(value: str | None) -> Language:
    """A supported language, or the default (Chinese) for anything else."""
    return "en" if value == "en" else DEFAULT_LANGUAGE


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


class Messages:
    """The labels of one language, as the templates use them: `t("nav.overview")`."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._messages = catalogue(language)

    def __call__(self, key: str, **params: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            return key
        return string.Formatter().vformat(text, (), _Blank(params)) if params else text

    def value(self, group: str, value: object) -> str:
        """An enumerated value's label (`band.high` → 高), or the value itself if unknown."""
        if value is None or value == "":
            return self._messages["common.none"]
        return self._messages.get(f"{group}.{value}", str(value))

    def reason(self, reason: Mapping[str, Any]) -> str:
        """A churn reason's sentence from its code and parameters; the API's English text
        when the code is one this catalogue does not know yet."""
        template = self._messages.get(f"reason.{reason.get('code')}")
        if template is None:
            return str(reason.get("text", reason.get("code", "")))
        params = dict(reason.get("params") or {})
        for name, group in _TRANSLATED_PARAMETERS.items():
            if name in params:
                params[name] = self.value(group, params[name])
        return string.Formatter().vformat(template, (), _Blank(params))

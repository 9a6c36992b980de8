"""The language of what people read: ``report.md``, the monthly record (Markdown, CSV headers, HTML) and ``due``
(issue #26 item 4). Error messages of the CLI stay English.

- :func:`language`: ``--lang ja|en``; without it ``$OPS_LANG``; without that the locale (``$LC_ALL``, then
  ``$LC_MESSAGES``, then ``$LANG``, the first one set, as POSIX setlocale(3) orders them); ``ja`` when the value
  starts with ``ja`` (``ja_JP.UTF-8``), else ``en``.
- :func:`translations`: the gettext catalog of a language, from ``ops_driver/locale/<lang>/LC_MESSAGES/
  ops_driver.po`` (kept in the repository; made with Babel: ``pybabel extract -k N_ -k pgettext:1c,2`` then
  ``pybabel update``, docs/development.md). ``make venv`` compiles it to ``ops_driver.mo`` beside it; a fresh checkout
  without that step still works: the ``.po`` is compiled at first use (Babel's ``read_po``/``write_mo``) into the
  cache (``$OPS_CACHE_DIR``, else ``$XDG_CACHE_HOME/ops-driver``, else ``~/.cache/ops-driver``), keyed by the
  ``.po`` file's SHA-256, or in memory when there is no cache. English is the source language: no catalog.
- The words of the field: change classes by their Japanese names (標準・軽微・重大・緊急) through
  :func:`change_class_word`, a record's result (:func:`result_word`) and a due task's state (:func:`state_word`),
  all messages of the catalog with a context (``pgettext``).

Reference: Python ``gettext`` (GNUTranslations, ``pgettext``); Babel ``babel.messages.pofile.read_po`` and
``babel.messages.mofile.write_mo`` (https://babel.pocoo.org/en/latest/api/messages/).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops_driver.errors import InvalidInput

if TYPE_CHECKING:
    import gettext as stdlib_gettext

LANGS = ("en", "ja")
LANG_ENV = "OPS_LANG"
DOMAIN = "ops_driver"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG")


def N_(message: str) -> str:  # the gettext convention
    """Mark ``message`` for extraction (``pybabel extract -k N_``) where it is defined; translate it when shown."""
    return message


def language(given: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``ja`` or ``en``: ``given`` (``--lang``; InvalidInput, exit 2, for another value), else ``$OPS_LANG``, else the
    locale (module docstring); a value starting with ``ja`` is Japanese, any other English."""
    if given is not None:
        if given not in LANGS:
            raise InvalidInput(f"--lang: {given!r} is not a language; use ja or en")
        return given
    env = os.environ if environ is None else environ
    for var in (LANG_ENV, *_LOCALE_VARS):
        value = env.get(var, "").strip()
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def _po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_po(po: Path) -> bytes:
    """The ``.mo`` bytes of the ``.po`` file ``po`` (Babel). Fuzzy entries are left out, as ``msgfmt`` does."""
    # imported here for start-up time: Babel is needed only when a catalog is compiled, not for every command
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def _cache_root() -> Path | None:
    given = os.environ.get("OPS_CACHE_DIR")
    if given is not None:
        return Path(given) if given else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ops-driver"


def mo_bytes(lang: str) -> bytes | None:
    """The compiled catalog of ``lang``: the ``.mo`` beside the ``.po`` when it is at least as new, else the cached
    compilation of this ``.po`` (made now if missing); None for English or a language without a ``.po``."""
    po = _po_path(lang)
    if lang == "en" or not po.is_file():
        return None
    mo = po.with_suffix(".mo")
    try:
        if mo.stat().st_mtime >= po.stat().st_mtime:
            return mo.read_bytes()
    except OSError:
        pass
    digest = hashlib.sha256(po.read_bytes()).hexdigest()[:16]
    root = _cache_root()
    cached = root / "locale" / f"{lang}-{digest}.mo" if root is not None else None
    if cached is not None:
        try:
            return cached.read_bytes()
        except OSError:
            pass
    data = compile_po(po)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, cached)
        except OSError:
            pass  # no writable cache: compiled again next time
    return data


@functools.cache
def translations(lang: str) -> stdlib_gettext.NullTranslations:
    """The catalog of ``lang`` (English: the messages as written)."""
    import gettext as stdlib_gettext  # here: a plan in English never needs it (issue #28)

    data = mo_bytes(lang)
    return stdlib_gettext.GNUTranslations(io.BytesIO(data)) if data else stdlib_gettext.NullTranslations()


def gettext(lang: str) -> Callable[[str], str]:
    """The ``_`` of ``lang``: message → its translation (the message itself when it has none)."""
    return translations(lang).gettext


def pgettext(context: str, message: str, lang: str) -> str:
    """``message`` in ``context`` translated to ``lang``."""
    return translations(lang).pgettext(context, message)


def NP_(context: str, message: str) -> tuple[str, str]:  # as N_, with a context
    """Mark ``message`` in ``context`` for extraction; :func:`pgettext` translates it when shown."""
    return context, message


#: The words of the field, each in its context: change classes (catalog.CHANGE_CLASSES), a record's results
#: (records.manual.RESULTS) and a due task's states (records.due.STATES, records.monthly.DUE_STATES).
WORDS = (NP_("change class", "standard"), NP_("change class", "minor"), NP_("change class", "major"),
         NP_("change class", "emergency"),
         NP_("result", "done"), NP_("result", "ng"), NP_("result", "skipped"),
         NP_("due state", "done"), NP_("due state", "ng"), NP_("due state", "open"), NP_("due state", "skipped"),
         NP_("due state", "late"), NP_("due state", "missed"), NP_("due state", "upcoming"))
CHANGE_CLASS_WORDS = frozenset(m for c, m in WORDS if c == "change class")


def change_class_word(change_class: str, lang: str) -> str:
    """A change class as the reader calls it: ``major`` → 重大 in Japanese; an unknown value as given."""
    if change_class not in CHANGE_CLASS_WORDS:
        return change_class
    return pgettext("change class", change_class, lang)


def result_word(result: str, lang: str) -> str:
    """A record's result (done, ng, skipped) in ``lang``: 実施済, NG, 対象外."""
    return pgettext("result", result, lang)


def state_word(state: str, lang: str) -> str:
    """A due task's state (done, ng, open, skipped, late, missed, upcoming) in ``lang``."""
    return pgettext("due state", state, lang)


#: The days of the week (calendar.WEEKDAY_NAMES), marked for translation: :func:`weekday_word`.
WEEKDAY_WORDS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
                 N_("Sunday"))


def weekday_word(name: str, lang: str) -> str:
    """A day of the week by its English name (``Saturday``) in ``lang`` (土曜日); any other text as given (a
    holiday's name, a period of the calendar)."""
    return gettext(lang)(name) if name in WEEKDAY_WORDS else name


@dataclass(frozen=True)
class Words:
    """A text written out in each language where no message of the catalog fits (an ordinal: ``2nd`` / ``第2``,
    a month's name: ``April`` / ``4月``); a field of a :class:`Phrase`."""

    en: str
    ja: str

    def text(self, lang: str = "en") -> str:
        return self.ja if lang == "ja" else self.en


@dataclass(frozen=True)
class Phrase:
    """A message of the catalog (marked with ``N_`` where it is made) with its fields, kept so that it can be shown
    in any language later: ``text(lang)`` translates the message and fills its fields, each a value as it is, a
    :class:`Words`, or a Phrase itself (translated in the same language); hashable (the text is cached). Fields by
    name, as ``str.format``."""

    message: str
    fields: tuple[tuple[str, Any], ...] = ()

    def text(self, lang: str = "en") -> str:
        """The phrase in ``lang``."""
        return _phrase_text(self, lang)


@functools.lru_cache(maxsize=4096)
def _phrase_text(p: Phrase, lang: str) -> str:
    """:meth:`Phrase.text`, once per phrase and language (a month's due rules repeat the same few phrases)."""
    values = {k: v.text(lang) if isinstance(v, (Phrase, Words)) else v for k, v in p.fields}
    return gettext(lang)(p.message).format(**values)


def phrase(message: str, **fields: Any) -> Phrase:
    """``Phrase(message, fields)``: ``phrase(N_("{nth} business day"), nth=Words("6th", "第6"))``."""
    return Phrase(message, tuple(fields.items()))


@functools.cache
def _pattern(message: str) -> re.Pattern[str]:
    """A regular expression matching what ``message.format(...)`` makes, a group per field."""
    import string

    parts, seen = [], set()
    for literal, name, _spec, _conversion in string.Formatter().parse(message):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.*?)")
            seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


def reword(text: str, messages: Iterable[str], lang: str) -> str:
    """``text``, written in English by ``message.format(...)`` for one of ``messages`` (kept so in a record's JSON:
    a flag, a note), in ``lang``: its fields read back from ``text`` and put into the message's translation. Any
    other text as it is. The first message that matches the whole text counts: list a longer one first."""
    if lang == "en":
        return text
    for message in messages:
        found = _pattern(message).fullmatch(text)
        if found:
            return gettext(lang)(message).format(**found.groupdict())
    return text


def task_name(task_name_ja: str, task_name_en: str, lang: str) -> str:
    """The catalog's name of a task for ``lang``: ``name_ja`` in Japanese, ``name_en`` in English (``name_ja``
    when there is no English name)."""
    return task_name_ja if lang == "ja" or not task_name_en else task_name_en


#: The marking functions :func:`extract_python` knows, with the number of literal arguments each takes.
_MARKERS = {"_": 1, "N_": 1, "NP_": 2}


def extract_python(fileobj: Any, keywords: Collection[str], comment_tags: Collection[str],
                   options: Mapping[str, Any]) -> Iterator[tuple[int, str, str | tuple[str, ...], list[str]]]:
    """A Babel extraction method (``babel.cfg``: ``[extractors] ops = ops_driver.i18n:extract_python``) that finds
    ``_("…")``, ``N_("…")`` and ``NP_("context", "…")`` with literal arguments anywhere in a Python file, inside
    f-strings too: Babel's own ``python`` method reads the tokens, and before Python 3.12 an f-string is one token,
    so ``f"## {_('Summary')}"`` would be missed. ``i18n.N_("…")`` and ``i18n.NP_("…", "…")`` (the module's name
    before the marker) count as well. Yields ``(line, function, message(s), comments)`` as Babel's extractors do
    (Babel docs, "Writing Extraction Methods")."""
    import ast  # only `make messages` extracts

    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "i18n":
            name = func.attr
        else:
            continue
        if name not in _MARKERS:
            continue
        wanted = _MARKERS[name]
        values = [a.value for a in node.args[:wanted] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if len(values) == wanted and len(node.args) == wanted:
            yield node.lineno, name, values[0] if wanted == 1 else tuple(values), []

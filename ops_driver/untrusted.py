"""Untrusted text in and out: the limits a work request must keep, and the escaping of what it says on output.

A work request, an AWX survey answer and a plan's ``apply_extravars`` are data, never code (docs/operators.md,
"the security model"). This module is the one place that says what such a document may be:

- at most :data:`MAX_DOCUMENT_BYTES` (64 KiB) of UTF-8;
- plain YAML: no anchors or aliases (:data:`yaml` alias bombs), no tags, nesting at most :data:`MAX_DEPTH` levels;
- every string at most :data:`MAX_STRING_CHARS` characters, every list at most :data:`MAX_LIST_ITEMS` items,
  every mapping at most :data:`MAX_MAPPING_KEYS` keys;
- no control or format character in any string (C0 and C1 controls, DEL, bidirectional and other ``Cf``
  characters, surrogates, private use, line and paragraph separators); a free-text field
  (:data:`MULTILINE_FIELDS`) may hold line feeds and tabs;
- no Jinja2 delimiter (``{{``, ``{%``, ``{#``) in any string: Ansible would evaluate it as a template.

Every refusal is an :class:`~ops_driver.errors.InvalidInput` (exit 2) naming the field and the limit; the checks
cost time proportional to the document and never recurse deeper than :data:`MAX_DEPTH`, so a hostile document is
refused within milliseconds, with no traceback.

On the way out, :func:`markdown` and :func:`terminal` make any text that may hold request data safe for report.md,
the Markdown record and a terminal: a control or format character is shown as its escape (``\\x1b``,
``\\u202e``), HTML-special characters as entities in Markdown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import yaml

from ops_driver.errors import InvalidInput

#: Largest work request file, in bytes.
MAX_DOCUMENT_BYTES = 64 * 1024
#: Deepest nesting of mappings and lists (the document itself is level 1; ``params.instances`` is level 3).
MAX_DEPTH = 8
#: Longest string, in characters.
MAX_STRING_CHARS = 4096
#: Longest list (a catalog parameter may set a lower ``max_items``).
MAX_LIST_ITEMS = 1000
#: Most keys of one mapping.
MAX_MAPPING_KEYS = 100
#: Fields whose text may span lines (line feed and tab allowed); any other string is one line.
MULTILINE_FIELDS = frozenset({"reason", "emergency_reason", "personal_data_reason"})
#: The delimiters of a Jinja2 template: never in request data.
TEMPLATE_DELIMITERS = ("{{", "{%", "{#")

_TEMPLATE = re.compile(r"\{[{%#]")
#: Unicode categories never allowed in request text: controls, format (bidi overrides, zero-width), surrogates,
#: private use, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def _refused(ch: str) -> bool:
    """Whether ``ch`` is of a category no request text may hold (:data:`_BAD_CATEGORIES`)."""
    return not ch.isprintable() and ch != " " and unicodedata.category(ch) in _BAD_CATEGORIES


def bad_character(text: str, multiline: bool = False) -> str | None:
    """The first character of ``text`` no request string may hold, or None. ``multiline`` allows LF and TAB."""
    if text.isprintable():  # fast path: isprintable() is false for every refused category
        return None
    for ch in text:
        if _refused(ch) and not (multiline and ch in "\n\t"):
            return ch
    return None


def describe(ch: str) -> str:
    """``U+001B (ESC)``-style name of a character for an error message (never the character itself)."""
    name = unicodedata.name(ch, "") or {"\x1b": "ESC", "\n": "LINE FEED", "\r": "CARRIAGE RETURN",
                                        "\t": "TAB", "\x00": "NUL", "\x07": "BEL"}.get(ch, "control character")
    return f"U+{ord(ch):04X} ({name})"


def check_string(value: str, field: str, multiline: bool = False) -> str | None:
    """The problem of one request string (length, character, template delimiter), or None when it is fine."""
    if len(value) > MAX_STRING_CHARS:
        return (f"{field}: {len(value)} characters is longer than the {MAX_STRING_CHARS} a work request field may "
                "hold; shorten it or attach the text to the ticket")
    ch = bad_character(value, multiline)
    if ch is not None:
        allowed = " (line feeds and tabs are allowed here)" if multiline else ""
        return (f"{field}: holds the control or format character {describe(ch)}, which no work request field may "
                f"hold{allowed}; retype the value as plain text")
    if _TEMPLATE.search(value):
        return (f"{field}: holds a template delimiter ({' '.join(TEMPLATE_DELIMITERS)}); a work request is data and "
                "is never evaluated: give the literal value")
    return None


def walk(value: Any, field: str, depth: int = 1) -> Iterator[str]:
    """Every problem of a parsed document: size of lists and mappings, nesting, each string and mapping key.

    ``field`` is the dotted path of ``value`` (``params.instances[2]``); the first element of the path decides
    whether a string may span lines (:data:`MULTILINE_FIELDS`, also for a parameter of that name).
    """
    if depth > MAX_DEPTH:
        yield f"{field}: nested deeper than {MAX_DEPTH} levels; a work request is a flat mapping of simple values"
        return
    if isinstance(value, str):
        leaf = re.split(r"[.\[]", field)[-1] if field else ""
        problem = check_string(value, field or "document", multiline=leaf in MULTILINE_FIELDS)
        if problem:
            yield problem
    elif isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            yield f"{field}: {len(value)} items is more than the {MAX_LIST_ITEMS} a list may hold; split the request"
            return
        for i, item in enumerate(value):
            yield from walk(item, f"{field}[{i}]", depth + 1)
    elif isinstance(value, dict):
        if len(value) > MAX_MAPPING_KEYS:
            yield f"{field or 'document'}: {len(value)} keys is more than the {MAX_MAPPING_KEYS} a mapping may hold"
            return
        for key, item in value.items():
            if not isinstance(key, str):
                yield f"{field or 'document'}: key {key!r} is not a name; keys are plain names"
                continue
            path = f"{field}.{key}" if field else key
            problem = check_string(key, f"{path} (the key)")
            if problem:
                yield problem
                continue
            yield from walk(item, path, depth + 1)
    elif value is None or isinstance(value, (bool, int, float)):
        return
    else:  # dates and other YAML types a work request has no use for
        yield (f"{field}: a {type(value).__name__} value; give a string, a number, true/false or a list "
               "(quote dates and times)")


def check(value: Any, source: str) -> None:
    """Raise InvalidInput (exit 2) listing the first problems of :func:`walk`, each naming its field."""
    problems = []
    for problem in walk(value, ""):
        problems.append(problem)
        if len(problems) == 5:
            break
    if problems:
        raise InvalidInput(f"{source}: " + "; ".join(problems))


class _PlainLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors, aliases and explicit tags, and stops at :data:`MAX_DEPTH`.

    The composer is recursive; the depth is checked before each level is composed, so a 20,000-deep document is
    refused at level :data:`MAX_DEPTH` + 1 instead of exhausting Python's stack.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise _Refused(f"line {mark.line + 1}, column {mark.column + 1}: YAML anchors and aliases (& and *) are "
                           "not allowed in a work request; write each value out")
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            mark = event.start_mark
            raise _Refused(f"line {mark.line + 1}, column {mark.column + 1}: the YAML tag {tag} is not allowed in a "
                           "work request; write the plain value")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = event.start_mark
                raise _Refused(f"line {mark.line + 1}, column {mark.column + 1}: nested deeper than {MAX_DEPTH} "
                               "levels; a work request is a flat mapping of simple values")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Refused(Exception):
    """A document refused by :class:`_PlainLoader` (turned into InvalidInput by :func:`load_yaml`)."""


def load_yaml(text: str | bytes, source: str) -> Any:
    """Parse an untrusted YAML document under the limits of this module; InvalidInput (exit 2) otherwise.

    Args:
        text: the document (bytes are decoded as UTF-8; its size is checked before anything is parsed).
        source: what to call it in messages (the file's path, ``AWX job 42``).

    Returns: the parsed value (not yet checked by :func:`check`: the caller knows which fields are free text).
    """
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"{source}: {size} bytes is larger than the {MAX_DOCUMENT_BYTES // 1024} KiB a work "
                           "request may be; a request names its targets, it does not carry data")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(f"{source}: not UTF-8 text (byte {e.start}); save the request as UTF-8") from None
    loader = _PlainLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as e:
        raise InvalidInput(f"{source}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"{source}: not valid YAML{where}: {getattr(e, 'problem', None) or e}; "
                           "fix the syntax (indentation, quotes, colons)") from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------- output

def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep: str = "\n") -> str:
    """``text`` with every control or format character (but those in ``keep``) written as its escape."""
    if text.isprintable():
        return text
    return "".join(_escape_char(ch) if _refused(ch) and ch not in keep else ch for ch in text)


def terminal(text: str) -> str:
    """Text for a terminal: line feeds kept, every other control or format character shown as its escape, so
    that no escape sequence from request data reaches the operator's terminal (title, colours, cursor)."""
    return visible(text, keep="\n")


def json_for_terminal(text: str) -> str:
    """JSON text (``ensure_ascii=False``) with the characters JSON leaves raw but a terminal acts on (C1 controls,
    format characters) written as ``\\uXXXX`` - still the same JSON value."""
    if text.isascii():
        return text
    return "".join(f"\\u{ord(ch):04x}" if ord(ch) >= 0x80 and _refused(ch) else ch for ch in text)


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def markdown_text(text: str) -> str:
    """Untrusted text for any place of a Markdown page: one line, control and format characters as escapes, HTML
    special characters and backticks as entities (``|`` is left to the table writer)."""
    return visible(text.replace("\r\n", "\n").replace("\n", " "), keep="").translate(_HTML).replace("`", "&#96;")


def markdown(text: str) -> str:
    """Inline Markdown for untrusted text: one line, control characters escaped, HTML as entities, ``|`` escaped
    (table cells) and backticks as entities, so a value can neither start HTML nor close a code span."""
    return markdown_text(text).replace("|", "\\|")


# ---------------------------------------------------------------- extra vars

class _UnsafeRoot(dict):  # type: ignore[type-arg]
    """The top-level mapping of an extra-vars document (written with the ``!unsafe`` tag)."""


def _unsafe_root(dumper: yaml.SafeDumper, value: _UnsafeRoot) -> yaml.MappingNode:
    node = dumper.represent_dict(dict(value))
    node.tag = "!unsafe"
    return node


class _UnsafeDumper(yaml.SafeDumper):
    """PyYAML's safe dumper that writes :class:`_UnsafeRoot` as a mapping tagged ``!unsafe``."""


_UnsafeDumper.add_representer(_UnsafeRoot, _unsafe_root)


def _check_keys(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if _TEMPLATE.search(str(key)):
                raise InvalidInput(f"{where}: the key {visible(str(key))!r} holds a template delimiter; refused")
            _check_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, where)


def extravars_document(variables: dict[str, Any]) -> str:
    """The extra-vars file of a playbook run: a YAML mapping tagged with Ansible's ``!unsafe``.

    Ansible treats extra vars as trusted template input: a value ``{{ lookup('pipe', …) }}`` would run a command
    on the control node when the play uses it. Everything under a node tagged ``!unsafe`` is loaded as untrusted
    and never templated (ansible-core 2.19 ``ansible/_internal/_yaml/_constructor.py``, ``construct_yaml_unsafe``:
    the tagged node and everything constructed inside it). The tag is on the document's root mapping, not on each
    string, because ansible-core resolves a scalar tagged ``!unsafe`` again as if it were plain, even when quoted:
    ``!unsafe '10.'`` becomes the float 10.0 and ``!unsafe 'yes'`` True. Inside the tagged root every value keeps
    its ordinary YAML type (quoted strings stay strings). AWX writes survey answers untrusted the same way
    (``awx/main/utils/safe_yaml.py``, ``safe_dump``).

    Args:
        variables: a mapping of variable names (identifiers) to JSON-like values.

    Raises:
        InvalidInput: a top-level key that is not an identifier, or a key at any depth that holds a template
            delimiter.
    """
    for key in variables:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidInput(f"extra vars: the variable name {visible(str(key))!r} is not an identifier")
    _check_keys(variables, "extra vars")
    return yaml.dump(_UnsafeRoot(variables), Dumper=_UnsafeDumper, default_flow_style=False, allow_unicode=True,
                     sort_keys=True, width=2**16, explicit_start=True)

# -*- coding: utf-8 -*-
# Operations automation collection - GPL-3.0-or-later (as Ansible module_utils are)
"""Cisco ESA (AsyncOS) Host Access Table sender group entries: validate, normalise, sort, diff.

Source of the rules: Cisco "User Guide for AsyncOS for Cisco Secure Email Gateway", chapter "Defining Which
Hosts Are Allowed to Connect Using the Host Access Table (HAT)", table "Sender Group Syntax":

  kind            written as                                    normal form (what entries are compared by)
  ipv4            n.n.n.n                                       10.1.1.1 (leading zeros refused: ambiguous)
  partial4        n.n.n.  n.n.n  n.n.  n.n  n.  n               10.1.1.  (one trailing dot; both spellings of
                                                                the table mean the same addresses)
  range4          n.n.n.n-n  n.n.n-n.  n.n.n-n  n.n-n.  n.n-n    10.1.1.10-20, 10.1-5 (no trailing dot); only the
                  n-n.  n-n                                     last written octet varies
  cidr4           n/c  n.n/c  n.n.n/c  n.n.n.n/c                 10.0.0.0/8 (network address written in full)
  ipv6            full or compressed                            2001:db8::1 (``ipaddress`` compressed, lower case)
  cidr6           2001:db8::/32                                 2001:db8::/32
  range6          2001:db8::2-2001:db8::10                      2001:db8::2-2001:db8::10 (both ends in full)
  hostname        yourhost.example.com                          mail.example.com (lower case, no trailing dot)
  partial_domain  .partialhost - everything within that domain  .example.com (lower case, no trailing dot)
  sbrs            SBRS[n:n]  SBRS[none] - SenderBase Reputation  SBRS[-10.0:-3.0], SBRS[none]; scores -10.0..10.0
                  Score                                         with at most one decimal
  sbo             SBO:n - SenderBase network owner ID           SBO:12345
  dnslist         dnslist[query.server.example] - DNS list      dnslist[zen.example.org]

The guide: "If you attempt to enter duplicate entries (identical domain or IP addresses) in a single sender
group, the duplicates are discarded." - duplicates are found by normal form. The HAT takes no e-mail addresses.
``ALL`` is the keyword of the built-in catch-all sender group, not an entry. Host names follow RFC 1123: labels of
1-63 letters, digits and hyphens, not starting or ending with a hyphen, at most 253 characters in all; a host name
needs at least two labels (a partial domain may have one: ``.jp``); non-ASCII names must be given in IDNA (xn--)
form.

Errors are EntryError (a ValueError) whose reason says what is wrong and how to fix it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

KINDS = ("ipv4", "ipv6", "cidr4", "cidr6", "range4", "range6", "partial4", "hostname", "partial_domain",
         "sbrs", "sbo", "dnslist")

MAX_HOSTNAME = 253
MAX_LABEL = 63
SBRS_MIN = Decimal("-10.0")
SBRS_MAX = Decimal("10.0")

_SEP_HINT = "one entry per list item; a comma separates entries in the CLI"
_FORMS = ("give an IP address (10.1.1.1, 2001:db8::1), a CIDR block (10.1.1.0/24), a range (10.1.1.10-20),"
          " a partial address (10.1.1.), a host name (mail.example.com), a partial domain (.example.com),"
          " SBRS[-10.0:-3.0], SBO:12345 or dnslist[zen.example.org]")
_FQDN_HINT = "give a fully-qualified domain name such as mail.example.com, or a partial domain such as .example.com"

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_LOWER_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Entries already in normal form, for diff's fast path (checked against _parse in the tests): a full IPv4
# address; a lower-case host name (>= 2 labels) or partial domain with a letter somewhere (all digits, dots
# and hyphens is IPv4 syntax) and a last label that is not all digits. The length (<= 253) is checked apart.
_CANONICAL = re.compile(r"(?:%s\.){3}%s|(?=[^a-z]*[a-z])(?:%s\.)+(?![0-9]+$)%s|\.(?=[^a-z]*[a-z])(?:%s\.)*(?![0-9]+$)%s"
                        % (_OCTET, _OCTET, _LOWER_LABEL, _LOWER_LABEL, _LOWER_LABEL, _LOWER_LABEL))
_CANONICAL_CIDR4 = re.compile(r"(%s)\.(%s)\.(%s)\.(%s)/(3[0-2]|[12]?[0-9])" % (_OCTET, _OCTET, _OCTET, _OCTET))
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]*")
_IPV4_CHARS = re.compile(r"[0-9./-]+")
_DIGITS = re.compile(r"[0-9]+")
_HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
                       re.IGNORECASE)
_LABEL_BAD_CHAR = re.compile(r"[^A-Za-z0-9-]")
_SBRS = re.compile(r"SBRS\[(.*)\]", re.IGNORECASE | re.DOTALL)
_SBO = re.compile(r"SBO:([0-9]+)", re.IGNORECASE)
_DNSLIST = re.compile(r"dnslist\[(.*)\]", re.IGNORECASE | re.DOTALL)
_SCORE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_HOST_PORT = re.compile(r"([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):([0-9]+)")
# SBRS / SBO / dnslist keyword, then the end or punctuation (so sbo.example.com stays a host name)
_KEYWORD = re.compile(r"(SBRS|SBO|DNSLIST)(?=$|[\[\](){}:=<>\s])", re.IGNORECASE)

# sort_key groups: IPv4 kinds, IPv6 kinds, names, SBRS, SBO, dnslist, entries that do not validate.
_G_IPV4, _G_IPV6, _G_NAME, _G_SBRS, _G_SBO, _G_DNSLIST, _G_INVALID = range(7)
_RANK = {"ipv4": 0, "partial4": 1, "cidr4": 2, "range4": 3, "ipv6": 0, "cidr6": 2, "range6": 3}
_AFTER_LABELS = "~"  # sorts after every label character (a-z, 0-9, '-'): a partial domain follows its hosts


class EntryError(ValueError):
    """A sender group entry the HAT would refuse (or that would not do what its writer meant).

    ``entry`` is the entry as given, ``reason`` says what is wrong and how to fix it; ``str(e)`` is
    ``"<entry!r>: <reason>"``.
    """

    def __init__(self, entry: str, reason: str) -> None:
        super().__init__(entry, reason)
        self.entry = entry
        self.reason = reason

    def __str__(self) -> str:
        return "%r: %s" % (self.entry, self.reason)


# --- parsing ---------------------------------------------------------------------------------------------------

def _ipv4_int(octets: list[int]) -> int:
    value = 0
    for o in octets:
        value = (value << 8) | o
    return value


def _ipv4_text(value: int) -> str:
    return "%d.%d.%d.%d" % (value >> 24 & 255, value >> 16 & 255, value >> 8 & 255, value & 255)


def _octets(raw: str, text: str, fixed: str | None = None) -> list[int]:
    """Octets of the dotted decimal ``text`` (no empty part), each 0-255 without leading zeros.

    ``fixed`` is shown as the correction of a leading zero (the whole entry rewritten); computed when None.
    Raises EntryError.
    """
    parts = text.split(".")
    if len(parts) > 4:
        raise EntryError(raw, "%d octets; an IPv4 address has at most four (n.n.n.n)" % len(parts))
    out = []
    for part in parts:
        if part == "":
            raise EntryError(raw, "an empty octet (a dot too many); write the address like 10.1.1.1, a partial"
                                  " address like 10.1.1. or a range like 10.1.1.10-20")
        if not _DIGITS.fullmatch(part):
            raise EntryError(raw, "octet %r is not a number; %s" % (part, _FORMS))
        value = int(part)
        if value > 255:
            raise EntryError(raw, "octet %s is out of range 0-255; check the address" % part)
        if len(part) > 1 and part[0] == "0":
            if fixed is None:
                fixed = re.sub(r"(?<![0-9])0+(?=[0-9])", "", raw.strip())
            raise EntryError(raw, "octet %s has a leading zero, which is ambiguous (some systems read it as"
                                  " octal); write it without leading zeros: %s" % (part, fixed))
        out.append(value)
    return out


def _prefix(raw: str, text: str, maximum: int, address: str) -> int:
    if not _DIGITS.fullmatch(text):
        hint = "give a prefix length 0-%d after the slash, e.g. %s/24" % (maximum, address)
        if maximum == 32 and "." in text:
            try:
                hint = "give the prefix length instead of a netmask: %s/%d" % (
                    address, ipaddress.IPv4Network("0.0.0.0/" + text).prefixlen)
            except ValueError:
                pass
        raise EntryError(raw, "prefix length %r is not a number; %s" % (text, hint))
    value = int(text)
    if value > maximum:
        raise EntryError(raw, "prefix length %s is out of range 0-%d; give the network's prefix length, e.g. %s"
                              % (text, maximum, "10.1.1.0/24" if maximum == 32 else "2001:db8::/32"))
    if len(text) > 1 and text[0] == "0":
        raise EntryError(raw, "prefix length %s has a leading zero; write %s/%d" % (text, address, value))
    return value


def _parse_ipv4_family(raw: str, s: str) -> tuple[str, str, tuple]:
    """(kind, normal form, sort key) of an entry made of digits, dots, '-' and '/' only."""
    if s.startswith("."):
        raise EntryError(raw, "starts with a dot; a partial IPv4 address has the dot at the end (10.1.1.), a"
                              " partial domain needs a name (.example.com)")
    if "/" in s:
        if "-" in s or s.count("/") > 1:
            raise EntryError(raw, "mixes CIDR and range syntax; give either a CIDR block (10.1.1.0/24) or a range"
                                  " (10.1.1.10-20)")
        addr, _sep, pfx = s.partition("/")
        if addr.endswith("."):
            raise EntryError(raw, "a dot before the slash; write the network like %s/%s"
                                  % (addr.rstrip(".") or "10.1.1.0", pfx or "24"))
        octets = _octets(raw, addr)
        padded = octets + [0] * (4 - len(octets))
        length = _prefix(raw, pfx, 32, _ipv4_text(_ipv4_int(padded)))
        start = _ipv4_int(padded)
        host_mask = (1 << (32 - length)) - 1
        if start & host_mask:
            raise EntryError(raw, "CIDR with host bits set; did you mean %s/%d?"
                                  % (_ipv4_text(start & ~host_mask), length))
        normal = "%s/%d" % (_ipv4_text(start), length)
        return "cidr4", normal, (_G_IPV4, start, _RANK["cidr4"], length, (), normal)
    if "-" in s:
        if s.count("-") > 1:
            raise EntryError(raw, "more than one '-'; a range is written like 10.1.1.10-20")
        left, _sep, right = s.partition("-")
        trailing = right.endswith(".")
        if trailing:
            right = right[:-1]
        if not left:
            raise EntryError(raw, "a range needs a low end; write it like 10.1.1.10-20")
        if not right:
            raise EntryError(raw, "a range needs a high end; write it like %s-20" % left.rstrip("."))
        if "." in right:
            try:
                lo_o, hi_o = _octets(raw, left), _octets(raw, right)
            except EntryError:
                lo_o = hi_o = []
            if len(lo_o) == 4 and len(hi_o) == 4 and lo_o[:3] == hi_o[:3]:
                fix = "write %s-%d" % (left, hi_o[3])
            else:
                fix = "split it into CIDR blocks (10.1.0.0/16) or ranges that each vary one octet"
            raise EntryError(raw, "an IPv4 range varies only its last written octet (10.1.1.10-20); %s" % fix)
        left_o = _octets(raw, left)
        (hi,) = _octets(raw, right)
        if trailing and len(left_o) == 4:
            raise EntryError(raw, "a trailing dot after a full IPv4 range; write %s-%s" % (left, right))
        lo = left_o[-1]
        head = left_o[:-1]
        if lo > hi:
            raise EntryError(raw, "range low end %d is above high end %d; write %s" % (
                lo, hi, ".".join([str(o) for o in head] + ["%d-%d" % (hi, lo)])))
        normal = ".".join([str(o) for o in head] + ["%d-%d" % (lo, hi)])
        pad = 4 - len(left_o)
        start = _ipv4_int(head + [lo] + [0] * pad)
        end = _ipv4_int(head + [hi] + [255] * pad)
        return "range4", normal, (_G_IPV4, start, _RANK["range4"], end, (), normal)
    trailing = s.endswith(".")
    octets = _octets(raw, s[:-1] if trailing else s)
    if len(octets) == 4:
        if trailing:
            raise EntryError(raw, "a trailing dot after a full IPv4 address; write %s" % s[:-1])
        start = _ipv4_int(octets)
        normal = _ipv4_text(start)
        return "ipv4", normal, (_G_IPV4, start, _RANK["ipv4"], start, (), normal)
    normal = ".".join(str(o) for o in octets) + "."
    pad = 4 - len(octets)
    start = _ipv4_int(octets + [0] * pad)
    end = _ipv4_int(octets + [255] * pad)
    return "partial4", normal, (_G_IPV4, start, _RANK["partial4"], end, (), normal)


def _ipv6_address(raw: str, text: str, what: str = "IPv6 address") -> ipaddress.IPv6Address:
    try:
        return ipaddress.IPv6Address(text)
    except ValueError as e:
        raise EntryError(raw, "not a valid %s (%s); write it like 2001:db8::1" % (what, e)) from None


def _parse_ipv6_family(raw: str, s: str) -> tuple[str, str, tuple]:
    """(kind, normal form, sort key) of an entry holding a ':' (not SBO:)."""
    if "[" in s or "]" in s:
        raise EntryError(raw, "square brackets; write the IPv6 address without them, like 2001:db8::1")
    if "%" in s:
        raise EntryError(raw, "an IPv6 zone (%%%s); the HAT takes global addresses: write %s"
                              % (s.partition("%")[2], s.partition("%")[0]))
    if "/" in s:
        if "-" in s or s.count("/") > 1:
            raise EntryError(raw, "mixes CIDR and range syntax; give either a CIDR block (2001:db8::/32) or a"
                                  " range (2001:db8::2-2001:db8::10)")
        addr_text, _sep, pfx = s.partition("/")
        addr = _ipv6_address(raw, addr_text, "IPv6 network address")
        length = _prefix(raw, pfx, 128, addr.compressed)
        net = ipaddress.IPv6Network("%s/%d" % (addr.compressed, length), strict=False)
        if net.network_address != addr:
            raise EntryError(raw, "CIDR with host bits set; did you mean %s?" % net.compressed)
        normal = net.compressed
        return "cidr6", normal, (_G_IPV6, int(addr), _RANK["cidr6"], length, (), normal)
    if "-" in s:
        if s.count("-") > 1:
            raise EntryError(raw, "more than one '-'; an IPv6 range is written like 2001:db8::2-2001:db8::10")
        left, _sep, right = s.partition("-")
        lo = _ipv6_address(raw, left, "IPv6 range low end")
        if ":" not in right:
            raise EntryError(raw, "give both ends of an IPv6 range in full, like 2001:db8::2-2001:db8::10")
        hi = _ipv6_address(raw, right, "IPv6 range high end")
        if lo > hi:
            raise EntryError(raw, "range low end %s is above high end %s; write %s-%s"
                                  % (lo.compressed, hi.compressed, hi.compressed, lo.compressed))
        normal = "%s-%s" % (lo.compressed, hi.compressed)
        return "range6", normal, (_G_IPV6, int(lo), _RANK["range6"], int(hi), (), normal)
    addr = _ipv6_address(raw, s)
    normal = addr.compressed
    return "ipv6", normal, (_G_IPV6, int(addr), _RANK["ipv6"], int(addr), (), normal)


def _hostname(raw: str, name: str, min_labels: int = 2) -> str:
    """Lower-case ``name`` (one trailing dot removed) after checking it is a valid host name. Raises EntryError."""
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]
    if _HOSTNAME.fullmatch(name) and len(name) <= MAX_HOSTNAME:
        labels = name.split(".")
    else:
        if name == "":
            raise EntryError(raw, "no name; %s" % _FQDN_HINT)
        labels = name.split(".")
        for label in labels:
            if label == "":
                raise EntryError(raw, "an empty label (two dots in a row, or a dot at the start or end);"
                                      " write the name like mail.example.com")
            if "_" in label:
                raise EntryError(raw, "an underscore in %r; host names take letters, digits and hyphens only:"
                                      " check the server's real host name, or give its IP address" % label)
            bad = _LABEL_BAD_CHAR.search(label)
            if bad:
                raise EntryError(raw, "character %r is not allowed in a host name (letters, digits, hyphens and"
                                      " dots only); %s" % (bad.group(0), _FORMS))
            if len(label) > MAX_LABEL:
                raise EntryError(raw, "label %r is %d characters long; a DNS label holds at most %d: check the"
                                      " name" % (label[:20] + "...", len(label), MAX_LABEL))
            if label.startswith("-") or label.endswith("-"):
                raise EntryError(raw, "label %r starts or ends with a hyphen, which host names do not allow;"
                                      " check the name" % label)
        if len(name) > MAX_HOSTNAME:
            raise EntryError(raw, "the name is %d characters long; a domain name holds at most %d: check the name"
                                  % (len(name), MAX_HOSTNAME))
    if len(labels) < min_labels:
        raise EntryError(raw, "a single-label host name; %s" % _FQDN_HINT)
    if labels[-1].isdigit():
        raise EntryError(raw, "the last label %r is all digits, which no top-level domain is; give an IP address"
                              " (10.1.1.1) or a host name (mail.example.com)" % labels[-1])
    return name.lower()


def _labels_key(name: str) -> tuple[str, ...]:
    return tuple(reversed(name.split(".")))


def _parse_sbrs(raw: str, s: str) -> tuple[str, str, tuple]:
    m = _SBRS.fullmatch(s)
    example = "SBRS[-10.0:-3.0] or SBRS[none]"
    if not m:
        raise EntryError(raw, "a SenderBase Reputation Score range is written %s (square brackets, a colon)"
                              % example)
    inner = m.group(1)
    if inner.lower() == "none":
        return "sbrs", "SBRS[none]", (_G_SBRS, 0, 0, 0, (), "SBRS[none]")
    parts = inner.split(":")
    if len(parts) != 2:
        raise EntryError(raw, "give a low:high pair of scores inside the brackets, e.g. %s" % example)
    values = []
    for part in parts:
        if not _SCORE.fullmatch(part):
            raise EntryError(raw, "score %r is not a number; scores run from -10.0 to 10.0, e.g. %s"
                                  % (part, example))
        try:
            value = Decimal(part)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise EntryError(raw, "score %r is not a number; e.g. %s" % (part, example)) from None
        if value < SBRS_MIN or value > SBRS_MAX:
            raise EntryError(raw, "score %s is out of range; scores run from -10.0 to 10.0, e.g. %s"
                                  % (part, example))
        if value != value.quantize(Decimal("0.1")):
            raise EntryError(raw, "score %s has more than one decimal; scores take one decimal (7.5, -3.0):"
                                  " round it" % part)
        values.append(value.quantize(Decimal("0.1")) + 0)  # + 0 turns -0.0 into 0.0
    lo, hi = values
    if lo > hi:
        raise EntryError(raw, "low score %s is above high score %s; write SBRS[%s:%s]" % (lo, hi, hi, lo))
    normal = "SBRS[%s:%s]" % (lo, hi)
    return "sbrs", normal, (_G_SBRS, 1, float(lo), float(hi), (), normal)


def _parse(entry: object) -> tuple[str, str, tuple]:
    """(kind, normal form, sort key) of one entry. Raises EntryError."""
    if not isinstance(entry, str):
        raise EntryError(str(entry), "not a text string but the %s %r; quote every entry in YAML (unquoted, 10.1"
                                     " is a number and 10.10 turns into 10.1): write '%s'"
                                     % (type(entry).__name__, entry, entry))
    raw = entry
    s = entry.strip()
    if not s:
        raise EntryError(raw, "an empty entry; remove the empty list item, or %s" % _FORMS)
    keyword = _KEYWORD.match(s)
    special = keyword.group(1).lower() if keyword else None
    if "," in s:
        raise EntryError(raw, "a comma inside the entry; %s" % _SEP_HINT)
    if any(ch.isspace() for ch in s):
        if special:
            raise EntryError(raw, "spaces inside the entry; remove them: %s" % "".join(s.split()))
        raise EntryError(raw, "a space inside the entry; %s" % _SEP_HINT)
    if "@" in s:
        raise EntryError(raw, "an e-mail address; the HAT takes no e-mail addresses: give the sending server's IP"
                              " address, its host name (mail.example.com) or its domain (.example.com)")
    if not s.isascii():
        folded = unicodedata.normalize("NFKC", s)
        if folded.isascii() and not any(ch.isspace() for ch in folded):
            raise EntryError(raw, "full-width or other non-ASCII characters; type the entry in ASCII: %s" % folded)
        try:
            idna = ".".join(label.encode("idna").decode("ascii") if label else "" for label in s.split("."))
            fix = ": %s" % idna.lower()
        except UnicodeError:
            fix = " (ask the domain's owner, or convert it with an IDNA tool)"
        raise EntryError(raw, "a non-ASCII name; use the IDNA (xn--) form%s" % fix)
    if s.upper() == "ALL":
        raise EntryError(raw, "ALL is the keyword of the built-in catch-all sender group, not an entry; leave the"
                              " ALL group alone and list the senders of this group")
    if special == "sbrs":
        return _parse_sbrs(raw, s)
    if special == "sbo":
        m = _SBO.fullmatch(s)
        if not m:
            raise EntryError(raw, "a SenderBase network owner is written SBO:<ID number>, e.g. SBO:12345")
        normal = "SBO:%d" % int(m.group(1))
        return "sbo", normal, (_G_SBO, int(m.group(1)), 0, 0, (), normal)
    if special == "dnslist":
        m = _DNSLIST.fullmatch(s)
        if not m:
            raise EntryError(raw, "a DNS list query is written dnslist[<query server>] with square brackets,"
                                  " e.g. dnslist[zen.example.org]")
        if not m.group(1):
            raise EntryError(raw, "no DNS list server inside the brackets; name it, e.g. dnslist[zen.example.org]")
        server = _hostname(raw, m.group(1))
        normal = "dnslist[%s]" % server
        return "dnslist", normal, (_G_DNSLIST, 0, 0, 0, _labels_key(server), normal)
    if "://" in s:
        raise EntryError(raw, "a URL; give the sending server's host name (mail.example.com) or IP address only")
    if "*" in s:
        head = s.split("*")[0]
        if not s.replace("*", "").strip("."):
            fix = "the built-in ALL sender group for every host, or a partial domain such as .example.com"
        elif _IPV4_CHARS.fullmatch(s.replace("*", "")):
            fix = "the partial address %s" % (head if head.endswith(".") else (head + ".").lstrip("."))
        else:
            fix = "the partial domain .%s" % s.rpartition("*")[2].lstrip(".")
        raise EntryError(raw, "a wildcard; the HAT takes no '*': use %s" % fix)
    if ":" in s:
        m = _HOST_PORT.fullmatch(s)
        if m:
            raise EntryError(raw, "a port number; the HAT takes no ports: give %s" % m.group(1))
        return _parse_ipv6_family(raw, s)
    if _IPV4_CHARS.fullmatch(s):
        return _parse_ipv4_family(raw, s)
    if s.startswith("."):
        domain = _hostname(raw, s[1:], min_labels=1)
        normal = "." + domain
        return "partial_domain", normal, (_G_NAME, 0, 0, 0, (*_labels_key(domain), _AFTER_LABELS), normal)
    name = _hostname(raw, s)
    return "hostname", name, (_G_NAME, 0, 0, 0, _labels_key(name), name)


# --- API ---------------------------------------------------------------------------------------------------------

def kind(entry: str) -> str:
    """The kind of ``entry``: one of KINDS (ipv4, ipv6, cidr4, cidr6, range4, range6, partial4, hostname,
    partial_domain, sbrs, sbo, dnslist). Raises EntryError for anything the HAT does not take."""
    return _parse(entry)[0]


def normalize(entry: str) -> str:
    """The canonical spelling of ``entry`` (see the module docstring), used to compare entries.

    ``normalize(" Mail.Example.COM. ") == "mail.example.com"``, ``normalize("2001:DB8:0::1") == "2001:db8::1"``,
    ``normalize("sbrs[7.5:10]") == "SBRS[7.5:10.0]"``. Raises EntryError.
    """
    return _parse(entry)[1]


def normalize_all(entries: Iterable[str]) -> tuple[list[str], list[EntryError]]:
    """Normal forms of ``entries`` without duplicates, and every error (not only the first).

    Returns ``(normalised, errors)``: ``normalised`` keeps input order, a duplicate (same normal form) is dropped
    where it repeats, so the first occurrence decides the position; ``errors`` holds one EntryError per invalid
    entry, in input order. Raises TypeError if ``entries`` is a single string.
    """
    if isinstance(entries, str):
        raise TypeError("entries must be a list of strings, not one string")
    out: list[str] = []
    errors: list[EntryError] = []
    seen: set[str] = set()
    for entry in entries:
        try:
            normal = _parse(entry)[1]
        except EntryError as e:
            errors.append(e)
            continue
        if normal not in seen:
            seen.add(normal)
            out.append(normal)
    return out, errors


def sort_key(entry: str) -> tuple:
    """A key giving a total order over any strings, for showing entry lists sorted.

    Order: IPv4 kinds by numeric start address, then kind (address, partial, CIDR, range), then prefix length /
    range end; IPv6 kinds the same way; host names and partial domains by reversed labels (``a.example.com``,
    ``b.example.com``, ``.example.com``, then ``example.net``); SBRS (``SBRS[none]`` first, then by scores); SBO by
    number; dnslist by reversed labels; last, entries that do not validate, by their stripped text. Never raises.
    Key shape: ``(group, number, number, number, tuple of labels, normal form, stripped text)``.
    """
    text = entry if isinstance(entry, str) else str(entry)
    try:
        key = _parse(text)[2]
    except EntryError:
        key = (_G_INVALID, 0, 0, 0, (), text.strip())
    return (*key, text.strip())


def _normal_form(text: str) -> str:
    """normalize(text) for a stripped ``text``, without the cost of a full parse when it is already canonical."""
    if text.isascii():  # a non-ASCII letter may lower-case to ASCII (KELVIN SIGN -> k): _parse refuses those
        low = text.lower()
        if _CANONICAL.fullmatch(low) and len(low) <= MAX_HOSTNAME and not low.endswith("."):
            return low
        m = _CANONICAL_CIDR4.fullmatch(text)
        if m:
            a, b, c, d, length = (int(g) for g in m.groups())
            if ((a << 24 | b << 16 | c << 8 | d) & ((1 << (32 - length)) - 1)) == 0:
                return text
        elif _IPV6_CHARS.fullmatch(text):
            try:
                return ipaddress.IPv6Address(text).compressed
            except ValueError:
                pass  # _parse says why
    return _parse(text)[1]


def _text(entry: object) -> str:
    return entry.strip() if isinstance(entry, str) else str(entry).strip()


def _form_or_text(text: str) -> str:
    try:
        return _normal_form(text)
    except EntryError:
        return text


def diff(current: Iterable[str], desired: Iterable[str]) -> dict:
    """What to change so that the entries ``current`` (as read from the appliance) become ``desired``.

    Entries are compared by normal form; entries that do not normalise are compared by their stripped text (the
    appliance may hold entries these rules refuse, and a rollback passes them back as ``desired``: validate what
    an operator asks for with normalize_all first). Returns ``{"add": [...], "delete": [...], "unchanged": n}``:
      add        desired entries (their spelling as given, stripped; the first of duplicates) whose normal form is
                 not in ``current``, sorted by sort_key;
      delete     current entries as the appliance wrote them whose normal form is not desired, and the surplus
                 spellings of one desired normal form (10/8 and 10.0.0.0/8: the one spelt as desired stays, else
                 the first), sorted by sort_key; a text repeated exactly is listed once (the appliance
                 cannot tell such copies apart);
      unchanged  the number of desired entries (without duplicates) already in ``current``.
    O(n log n). Raises TypeError if either argument is a single string.
    """
    if isinstance(current, str) or isinstance(desired, str):
        raise TypeError("current and desired must be lists of strings, not strings")
    forms: dict[str, str] = {}  # stripped text -> normal form; most texts are in both lists
    wanted: dict[str, str] = {}
    for entry in desired:
        text = _text(entry)
        form = forms.get(text)
        if form is None:
            form = forms[text] = _form_or_text(text)
        wanted.setdefault(form, text)
    have: dict[str, tuple[str, str]] = {}  # normal form -> (current entry kept, its stripped text)
    delete: list[str] = []
    seen: set[str] = set()
    for entry in current:
        text = _text(entry)
        if text in seen:
            continue
        seen.add(text)
        form = forms.get(text)
        if form is None:
            form = forms[text] = _form_or_text(text)
        spelling = wanted.get(form)
        if spelling is None:
            delete.append(entry)
        elif form not in have:
            have[form] = (entry, text)
        elif text == spelling and have[form][1] != spelling:
            delete.append(have[form][0])
            have[form] = (entry, text)
        else:
            delete.append(entry)
    add = [spelling for form, spelling in wanted.items() if form not in have]
    return {"add": sorted(add, key=sort_key), "delete": sorted(delete, key=sort_key), "unchanged": len(have)}

"""module_utils/esa_entries.py: ESA HAT sender group entries - kinds, normal forms, refusals, sorting, diff."""

from __future__ import annotations

import pytest
from ansible.module_utils import esa_entries as esa

# Every form of the guide's table "Sender Group Syntax", as (entry, kind, normal form).
ACCEPTED = [
    # n.n.n.n - full IPv4
    ("10.1.1.1", "ipv4", "10.1.1.1"),
    ("  192.0.2.255\t", "ipv4", "192.0.2.255"),
    ("0.0.0.0", "ipv4", "0.0.0.0"),
    # n.n.n.  n.n.n  n.n.  n.n  n.  n - partial IPv4 (both spellings mean the same addresses)
    ("10.1.1.", "partial4", "10.1.1."),
    ("10.1.1", "partial4", "10.1.1."),
    ("10.1.", "partial4", "10.1."),
    ("10.1", "partial4", "10.1."),
    ("10.", "partial4", "10."),
    ("10", "partial4", "10."),
    # n.n.n.n-n  n.n.n-n.  n.n.n-n  n.n-n.  n.n-n  n-n.  n-n - IPv4 ranges
    ("10.1.1.10-20", "range4", "10.1.1.10-20"),
    ("10.1.1-5.", "range4", "10.1.1-5"),
    ("10.1.1-5", "range4", "10.1.1-5"),
    ("10.1-5.", "range4", "10.1-5"),
    ("10.1-5", "range4", "10.1-5"),
    ("10-20.", "range4", "10-20"),
    ("10-20", "range4", "10-20"),
    ("10.1.1.7-7", "range4", "10.1.1.7-7"),
    # yourhost.example.com - FQDN
    ("crm.example.com", "hostname", "crm.example.com"),
    ("Mail.Example.COM.", "hostname", "mail.example.com"),
    ("xn--bcher-kva.example", "hostname", "xn--bcher-kva.example"),
    ("mx-1.a1.example.jp", "hostname", "mx-1.a1.example.jp"),
    ("sbo.example.com", "hostname", "sbo.example.com"),
    ("SBRS.Example.com", "hostname", "sbrs.example.com"),
    ("dnslist.example.com", "hostname", "dnslist.example.com"),
    ("all.example.com", "hostname", "all.example.com"),
    ("a" * 63 + ".example.com", "hostname", "a" * 63 + ".example.com"),
    (".".join(["a" * 63] * 3 + ["b" * 61]), "hostname", ".".join(["a" * 63] * 3 + ["b" * 61])),  # 253 characters
    # .partialhost - everything within that domain
    (".example.com", "partial_domain", ".example.com"),
    (".Partner.Example.JP.", "partial_domain", ".partner.example.jp"),
    (".jp", "partial_domain", ".jp"),
    # n/c  n.n/c  n.n.n/c  n.n.n.n/c - IPv4 CIDR
    ("10/8", "cidr4", "10.0.0.0/8"),
    ("10.1/16", "cidr4", "10.1.0.0/16"),
    ("10.1.1/24", "cidr4", "10.1.1.0/24"),
    ("10.1.1.0/24", "cidr4", "10.1.1.0/24"),
    ("10.1.1.1/32", "cidr4", "10.1.1.1/32"),
    ("0.0.0.0/0", "cidr4", "0.0.0.0/0"),
    # SBRS[n:n]  SBRS[none]
    ("SBRS[7.5:10.0]", "sbrs", "SBRS[7.5:10.0]"),
    ("sbrs[7.5:10]", "sbrs", "SBRS[7.5:10.0]"),
    ("SBRS[-10:-3]", "sbrs", "SBRS[-10.0:-3.0]"),
    ("Sbrs[-3.0:-1.0]", "sbrs", "SBRS[-3.0:-1.0]"),
    ("SBRS[-0.0:0]", "sbrs", "SBRS[0.0:0.0]"),
    ("SBRS[7.50:10.00]", "sbrs", "SBRS[7.5:10.0]"),
    ("SBRS[none]", "sbrs", "SBRS[none]"),
    ("sbrs[NONE]", "sbrs", "SBRS[none]"),
    # SBO:n
    ("SBO:12345", "sbo", "SBO:12345"),
    ("sbo:12", "sbo", "SBO:12"),
    ("SBO:0012", "sbo", "SBO:12"),
    # dnslist[query.server.example]
    ("dnslist[query.blacklist.example]", "dnslist", "dnslist[query.blacklist.example]"),
    ("DNSLIST[Zen.Example.ORG.]", "dnslist", "dnslist[zen.example.org]"),
    # IPv6 addresses, CIDR blocks and ranges
    ("2001:db8::1", "ipv6", "2001:db8::1"),
    ("2001:DB8::1", "ipv6", "2001:db8::1"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001", "ipv6", "2001:db8::1"),
    ("2001:db8:0::1", "ipv6", "2001:db8::1"),
    ("::1", "ipv6", "::1"),
    ("2001:db8::/32", "cidr6", "2001:db8::/32"),
    ("2001:DB8:0::/48", "cidr6", "2001:db8::/48"),
    ("::/0", "cidr6", "::/0"),
    ("2001:db8::2-2001:db8::10", "range6", "2001:db8::2-2001:db8::10"),
    ("2001:DB8::0002-2001:db8:0::10", "range6", "2001:db8::2-2001:db8::10"),
]

# Refusals: (entry, fragments the reason must carry - what is wrong and how to fix it).
REFUSED = [
    ("user@example.com", ["an e-mail address", "the HAT takes no e-mail addresses",
                          "IP address, its host name (mail.example.com) or its domain (.example.com)"]),
    ("@example.com", ["the HAT takes no e-mail addresses", ".example.com"]),
    ("10.1.1.300", ["octet 300 is out of range 0-255"]),
    ("256.1.1.1", ["octet 256 is out of range 0-255"]),
    ("10.1.1.5/24", ["CIDR with host bits set; did you mean 10.1.1.0/24?"]),
    ("10.1/8", ["did you mean 10.0.0.0/8?"]),
    ("10.1.1.20-10", ["range low end 20 is above high end 10", "write 10.1.1.10-20"]),
    ("10.5-1", ["range low end 5 is above high end 1", "write 10.1-5"]),
    ("SBRS[11:12]", ["out of range", "scores run from -10.0 to 10.0"]),
    ("SBRS[-10.5:0]", ["scores run from -10.0 to 10.0"]),
    ("SBRS[5:3]", ["low score 5.0 is above high score 3.0", "write SBRS[3.0:5.0]"]),
    ("SBRS[7.55:10]", ["more than one decimal", "round it"]),
    ("SBRS[5]", ["low:high pair", "SBRS[-10.0:-3.0]"]),
    ("SBRS[high:10]", ["not a number", "scores run from -10.0 to 10.0"]),
    ("SBRS(1:2)", ["SBRS[-10.0:-3.0] or SBRS[none]", "square brackets"]),
    ("SBRS [7.5:10]", ["spaces", "remove them: SBRS[7.5:10]"]),
    ("bücher.example", ["use the IDNA (xn--) form", "xn--bcher-kva.example"]),
    (".bücher.example", ["use the IDNA (xn--) form", ".xn--bcher-kva.example"]),
    ("１０.１.１.１", ["non-ASCII", "type the entry in ASCII: 10.1.1.1"]),
    ("\u212a.example.com", ["non-ASCII", "K.example.com"]),  # KELVIN SIGN, which lower-cases to ASCII k
    ("", ["an empty entry", "remove the empty list item"]),
    ("   ", ["an empty entry", "remove the empty list item"]),
    ("10.1.1.1, 10.1.1.2", ["a comma", "one entry per list item; a comma separates entries in the CLI"]),
    ("10.1.1.1 10.1.1.2", ["a space", "one entry per list item; a comma separates entries in the CLI"]),
    ("mail.example.com\u3000.example.com", ["one entry per list item"]),  # ideographic space
    ("010.1.1.1", ["leading zero", "ambiguous", "write it without leading zeros: 10.1.1.1"]),
    ("10.01.1.0/24", ["leading zero", "10.1.1.0/24"]),
    ("10.1.1.0/024", ["leading zero", "write 10.1.1.0/24"]),
    ("localhost", ["a single-label host name", "give a fully-qualified domain name such as mail.example.com, or a"
                   " partial domain such as .example.com"]),
    ("examplecom", ["a single-label host name", "mail.example.com", ".example.com"]),
    ("mail_1.example.com", ["an underscore", "letters, digits and hyphens only"]),
    ("-mail.example.com", ["hyphen"]),
    ("mail-.example.com", ["hyphen"]),
    ("a" * 64 + ".example.com", ["64 characters", "at most 63"]),
    (".".join(["a" * 63] * 4), ["255 characters", "at most 253"]),
    ("mail..example.com", ["an empty label"]),
    ("..example.com", ["an empty label"]),
    ("ex!ample.com", ["'!' is not allowed", "mail.example.com"]),
    ("mail.123", ["all digits", "10.1.1.1", "mail.example.com"]),
    ("1.2.3.4.5", ["5 octets", "at most four"]),
    ("10..1", ["an empty octet", "10.1.1."]),
    (".10.1", ["starts with a dot", "10.1.1."]),
    (".", ["starts with a dot", ".example.com"]),
    ("10.1.1.1.", ["trailing dot", "write 10.1.1.1"]),
    ("10.1.1.1-5.", ["trailing dot", "write 10.1.1.1-5"]),
    ("10.1.1.10-10.1.1.20", ["varies only its last written octet", "write 10.1.1.10-20"]),
    ("10.1.1.10-10.1.2.20", ["varies only its last written octet", "CIDR blocks"]),
    ("10.1.1.1-2-3", ["more than one '-'"]),
    ("10.1.1.0/33", ["prefix length 33 is out of range 0-32"]),
    ("10.1.1.0/", ["not a number", "prefix length"]),
    ("10.1.1.0/255.255.255.0", ["netmask", "10.1.1.0/24"]),
    ("10.1.1.0/24-30", ["mixes CIDR and range syntax"]),
    ("10.1.1./24", ["a dot before the slash", "10.1.1/24"]),
    ("2001:db8::1/32", ["CIDR with host bits set; did you mean 2001:db8::/32?"]),
    ("2001:db8::/129", ["prefix length 129 is out of range 0-128"]),
    ("2001:db8::10-2001:db8::2", ["range low end 2001:db8::10 is above high end 2001:db8::2",
                                  "write 2001:db8::2-2001:db8::10"]),
    ("2001:db8::2-10", ["both ends", "2001:db8::2-2001:db8::10"]),
    ("2001:db8::g", ["not a valid IPv6 address", "2001:db8::1"]),
    ("[2001:db8::1]", ["square brackets", "2001:db8::1"]),
    ("fe80::1%eth0", ["zone", "write fe80::1"]),
    ("SBO:abc", ["SBO:<ID number>", "SBO:12345"]),
    ("SBO[12]", ["SBO:12345"]),
    ("dnslist:zen.example.org", ["square brackets", "dnslist[zen.example.org]"]),
    ("dnslist[]", ["no DNS list server", "dnslist[zen.example.org]"]),
    ("dnslist[zen]", ["a single-label host name"]),
    ("ALL", ["catch-all sender group", "not an entry"]),
    ("*.example.com", ["wildcard", "use the partial domain .example.com"]),
    ("10.1.1.*", ["wildcard", "use the partial address 10.1.1."]),
    ("*", ["wildcard", "ALL sender group"]),
    ("mail.example.com:25", ["port", "give mail.example.com"]),
    ("10.1.1.1:25", ["port", "give 10.1.1.1"]),
    ("http://mail.example.com/", ["a URL", "host name"]),
]


@pytest.mark.parametrize(("entry", "expected_kind", "normal"), ACCEPTED, ids=[a[0][:40] for a in ACCEPTED])
def test_accepted_forms_have_their_kind_and_normal_form(entry: str, expected_kind: str, normal: str) -> None:
    assert esa.kind(entry) == expected_kind
    assert esa.normalize(entry) == normal
    assert esa.normalize(normal) == normal  # a normal form is its own normal form
    assert esa.kind(normal) == expected_kind


def test_every_kind_is_covered() -> None:
    assert {k for _e, k, _n in ACCEPTED} == set(esa.KINDS)


@pytest.mark.parametrize(("entry", "fragments"), REFUSED, ids=[r[0][:40] or "empty" for r in REFUSED])
def test_refusals_say_what_is_wrong_and_how_to_fix_it(entry: str, fragments: list[str]) -> None:
    with pytest.raises(esa.EntryError) as info:
        esa.normalize(entry)
    err = info.value
    assert err.entry == entry
    for fragment in fragments:
        assert fragment in err.reason
    assert str(err) == f"{entry!r}: {err.reason}"
    with pytest.raises(esa.EntryError):
        esa.kind(entry)


def test_entry_error_is_a_value_error_with_entry_and_reason() -> None:
    err = esa.EntryError("10.1.1.300", "octet 300 is out of range 0-255")
    assert isinstance(err, ValueError)
    assert (err.entry, err.reason) == ("10.1.1.300", "octet 300 is out of range 0-255")
    assert str(err) == "'10.1.1.300': octet 300 is out of range 0-255"


@pytest.mark.parametrize("value", [10.1, 10, None])
def test_yaml_numbers_are_refused_with_a_quoting_hint(value: object) -> None:
    with pytest.raises(esa.EntryError, match="quote every entry in YAML"):
        esa.normalize(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entries", "normal"),
    [
        (["10.1.1.1", "10.1.1.1"], ["10.1.1.1"]),
        (["Mail.Example.com", "mail.example.com."], ["mail.example.com"]),
        (["2001:DB8::1", "2001:db8:0::1"], ["2001:db8::1"]),
        (["10/8", "10.0.0.0/8", " 10.0.0.0/8 "], ["10.0.0.0/8"]),
        (["10.1.1", "10.1.1."], ["10.1.1."]),
        (["sbrs[7.5:10]", "SBRS[7.5:10.0]"], ["SBRS[7.5:10.0]"]),
        (["b.example.com", "10.1.1.1", "B.Example.com", "SBO:1", "10.1.1.1", ".example.com"],
         ["b.example.com", "10.1.1.1", "SBO:1", ".example.com"]),
        ([], []),
    ],
)
def test_normalize_all_collapses_duplicates_in_input_order(entries: list[str], normal: list[str]) -> None:
    assert esa.normalize_all(entries) == (normal, [])


def test_normalize_all_collects_every_error() -> None:
    entries = ["10.1.1.1", "user@example.com", "10.1.1.300", "mail.example.com", "", "10.1.1.5/24", "10.1.1.1"]
    normal, errors = esa.normalize_all(iter(entries))
    assert normal == ["10.1.1.1", "mail.example.com"]
    assert [e.entry for e in errors] == ["user@example.com", "10.1.1.300", "", "10.1.1.5/24"]
    assert all(isinstance(e, esa.EntryError) for e in errors)
    assert "did you mean 10.1.1.0/24?" in errors[3].reason


def test_normalize_all_refuses_a_single_string() -> None:
    with pytest.raises(TypeError):
        esa.normalize_all("10.1.1.1")


@pytest.mark.parametrize(
    "ordered",
    [
        # groups: IPv4, IPv6, names, SBRS, SBO, dnslist, then entries that do not validate
        ["9.9.9.9", "10.0.0.0/8", "10.1.1.1", "2001:db8::1", "a.example.com", "b.example.com", ".example.com",
         "example.net", "SBRS[none]", "SBRS[-10.0:-3.0]", "SBRS[-1.0:10.0]", "SBO:12", "SBO:345",
         "dnslist[zen.example.org]", "localhost", "user@example.com"],
        # numeric, not textual
        ["9.0.0.0", "10.1.1.2", "10.1.1.10", "10.1.1.100", "192.0.2.1"],
        # same start: address, partial, CIDR by prefix, range by end
        ["10.1.1.0", "10.1.1.", "10.1.1.0/24", "10.1.1.0/25", "10.1.1.0-5", "10.1.1.0-9", "10.1.1.1"],
        ["10.", "10.0.0.0/8", "10-20", "11.0.0.0"],
        ["::1", "2001:db8::/32", "2001:db8::/48", "2001:db8::1", "2001:db8::2-2001:db8::10", "2001:db8::9"],
        # reversed labels: a domain's hosts, then the domain itself; sub-domains inside
        ["example.com", "a.example.com", "x.a.example.com", ".a.example.com", "b.example.com", ".example.com",
         ".jp", "a.example.net", ".example.net"],
        ["dnslist[a.example.org]", "dnslist[b.example.org]", "dnslist[a.example.test]"],
    ],
)
def test_sort_key_orders_entries(ordered: list[str]) -> None:
    shuffled = list(reversed(ordered))
    shuffled = shuffled[1::2] + shuffled[::2]
    assert sorted(shuffled, key=esa.sort_key) == ordered


def test_sort_key_sorts_spellings_by_normal_form() -> None:
    assert sorted(["Z.example.com", "10.1.1.10", "MAIL.Example.COM.", "2001:DB8::1", "10.1.1.9"],
                  key=esa.sort_key) == ["10.1.1.9", "10.1.1.10", "2001:DB8::1", "MAIL.Example.COM.", "Z.example.com"]


def test_sort_key_never_raises_and_puts_invalid_entries_last() -> None:
    odd = ["", "   ", "user@x", "\x00", "SBRS[", "ünï", "10.1.1.300", "a b", "ALL", "[::1]", "*", "%", "-", "/"]
    valid = ["SBO:1", "10.1.1.1", "dnslist[zen.example.org]", "mail.example.com", "2001:db8::1", "SBRS[none]"]
    result = sorted(odd + valid, key=esa.sort_key)
    assert result[: len(valid)] == ["10.1.1.1", "2001:db8::1", "mail.example.com", "SBRS[none]", "SBO:1",
                                    "dnslist[zen.example.org]"]
    assert sorted(result[len(valid):]) == sorted(odd)
    assert result[len(valid):] == sorted(odd, key=lambda s: (s.strip(), s))


def test_diff_compares_by_normal_form() -> None:
    current = ["10.1.1.1", "Mail.Example.COM", "2001:DB8:0::1", "SBRS[-10.0:-3.0]", "198.51.100.7", ".partner.jp"]
    desired = ["mail.example.com.", "2001:db8::1", "10.1.1.1", "sbrs[-10:-3]", ".example.net", "10.2.0.0/16"]
    assert esa.diff(current, desired) == {"add": ["10.2.0.0/16", ".example.net"],
                                          "delete": ["198.51.100.7", ".partner.jp"], "unchanged": 4}


def test_diff_keeps_the_appliance_spelling_for_delete_and_the_desired_spelling_for_add() -> None:
    result = esa.diff(["MAIL.Example.com", "10.1.1.1", "sbrs[none]"], [" Host.Example.net ", "10.1.1.1"])
    assert result == {"add": ["Host.Example.net"], "delete": ["MAIL.Example.com", "sbrs[none]"], "unchanged": 1}


def test_diff_compares_invalid_current_entries_by_stripped_text() -> None:
    result = esa.diff(["10.1.1.1", " legacy_host ", "010.1.1.1", "localhost"], ["10.1.1.1"])
    assert result == {"add": [], "delete": ["010.1.1.1", " legacy_host ", "localhost"], "unchanged": 1}


def test_diff_lists_an_exactly_repeated_current_entry_once() -> None:
    result = esa.diff(["10.1.1.1", "10.1.1.1", "192.0.2.1", " 192.0.2.1"], ["10.1.1.1"])
    assert result == {"add": [], "delete": ["192.0.2.1"], "unchanged": 1}


def test_diff_collapses_duplicates() -> None:
    assert esa.diff([], ["Mail.example.com", "mail.example.com", "10/8", "10.0.0.0/8"]) == {
        "add": ["10/8", "Mail.example.com"], "delete": [], "unchanged": 0}
    # two current spellings of one desired entry: the one spelt as desired stays
    assert esa.diff(["10/8", "10.0.0.0/8"], ["10.0.0.0/8"]) == {"add": [], "delete": ["10/8"], "unchanged": 1}
    assert esa.diff(["10.0.0.0/8", "10/8"], ["10.0.0.0/8"]) == {"add": [], "delete": ["10/8"], "unchanged": 1}
    assert esa.diff(["10.1.1", "10.1.1."], ["10.1.1.0/24", "10.1.1"]) == {
        "add": ["10.1.1.0/24"], "delete": ["10.1.1."], "unchanged": 1}


def test_diff_of_equal_lists_and_of_empty_lists() -> None:
    entries = ["10.1.1.1", ".example.com", "SBRS[none]"]
    assert esa.diff(entries, list(reversed(entries))) == {"add": [], "delete": [], "unchanged": 3}
    assert esa.diff([], []) == {"add": [], "delete": [], "unchanged": 0}
    assert esa.diff(entries, []) == {"add": [], "delete": ["10.1.1.1", ".example.com", "SBRS[none]"],
                                     "unchanged": 0}


def test_diff_compares_invalid_desired_entries_by_stripped_text() -> None:
    # a rollback puts back what the appliance held, which these rules may refuse
    assert esa.diff(["10.1.1.1", "localhost"], [" localhost ", "10.1.1.1", "010.1.1.1"]) == {
        "add": ["010.1.1.1"], "delete": [], "unchanged": 2}


def test_diff_refuses_strings() -> None:
    with pytest.raises(TypeError):
        esa.diff("10.1.1.1", [])
    with pytest.raises(TypeError):
        esa.diff([], "10.1.1.1")


def _entry(i: int) -> str:
    """A mix of the kinds a large HAT holds, spelt as the appliance or an operator might."""
    r = i % 10
    if r < 6:
        return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    if r == 6:
        return f"Host{i}.Example.com"
    if r == 7:
        return f"172.{i >> 8 & 255}.{i & 255}.0/24"
    if r == 8:
        return f"2001:DB8::{i:x}"
    return f".dom{i}.example.jp"


def test_diff_of_ten_thousand_entries_differing_by_one_hundred() -> None:
    current = [_entry(i) for i in range(10000)]
    added = [_entry(i) for i in range(10000, 10050)]
    desired = [esa.normalize(e) for e in current[50:]] + added
    desired = desired[1::2] + desired[::2]
    result = esa.diff(current, desired)
    assert len(result["add"]) + len(result["delete"]) == 100
    assert result["add"] == sorted(added, key=esa.sort_key)
    assert result["delete"] == sorted(current[:50], key=esa.sort_key)
    assert result["unchanged"] == 9950


# diff() skips the full parse for entries already in normal form; the shortcut must agree with normalize().
SHORTCUT = [a[0] for a in ACCEPTED] + [a[2] for a in ACCEPTED] + [r[0] for r in REFUSED] + [
    "10.1-5", "1-2.example.com", "a.1-2", "a.10", ".10", ".a.10", "10.a", "SBO.EXAMPLE.COM", "Host.Example.Com",
    "host.example.com.", "host.example.com..", "10.0.0.0/8", "10.0.0.1/8", "10.1.1.0/32", "255.255.255.255",
    "255.255.255.256", "01.1.1.1", "1.1.1.01", "x" * 64 + ".com", ".".join(["a" * 63] * 4), "a-.example.com",
    "\u212a.example.com", "10.1.1.1/33", "ALL", "all", ".all", "a.b", "A.B",
    "::", ":::", "1:2", "2001:db8::1::2", "12345::", "FE80::1", "::ffff:10.1.1.1", "2001:db8:0:0:1:0:0:1",
]


@pytest.mark.parametrize("entry", SHORTCUT)
def test_diff_shortcut_agrees_with_normalize(entry: str) -> None:
    try:
        expected = esa.normalize(entry)
    except esa.EntryError:
        with pytest.raises(esa.EntryError):
            esa._normal_form(entry.strip())
    else:
        assert esa._normal_form(entry.strip()) == expected

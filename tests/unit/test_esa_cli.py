"""module_utils/esa_cli.py: parsing the AsyncOS CLI's answers (the dialogue itself is tested against the simulator)."""

from __future__ import annotations

from ansible.module_utils import esa_cli


def test_cli_parsers_read_the_hat_and_the_menus() -> None:
    hat = ("$BLOCKED\n    REJECT {}\n\n$TRUSTED\n    ACCEPT {\n        spam_check = \"off\"\n    }\n\n"
           "WHITELIST:\n    10.1.1.1\n    .partner.example.jp\n    $TRUSTED (My trusted senders)\n\n"
           "BLACKLIST:\n    $BLOCKED (Spammers are rejected)\n\nALL\n    $ACCEPTED (Everyone else)\n")
    groups = esa_cli.parse_hat(hat)
    assert list(groups) == ["WHITELIST", "BLACKLIST", "ALL"]
    assert groups["WHITELIST"]["entries"] == ["10.1.1.1", ".partner.example.jp"]
    assert groups["BLACKLIST"] == {"entries": [], "policy": "$BLOCKED (Spammers are rejected)"}
    menu = ("\nCurrently configured HAT sender groups:\n1. WHITELIST (My trusted senders)\n2. BLACKLIST (Spammers)\n"
            "3. (no name, first host = ALL) (Everyone else)\n\nEnter the sender group number or name you wish to edit.")
    assert esa_cli.parse_numbered(menu, "Currently configured HAT sender groups:") == ["WHITELIST", "BLACKLIST",
                                                                                       "ALL"]
    lines = esa_cli.sender_lines([f"10.0.{i // 256}.{i % 256}" for i in range(300)], limit=1000)
    assert all(len(x) <= 1000 for x in lines) and len(lines) == 4
    assert sum(len(x.split(", ")) for x in lines) == 300
    assert esa_cli.errors_in("\nError: \"x\" is not a valid sender.\n[]> ") == ['Error: "x" is not a valid sender.']

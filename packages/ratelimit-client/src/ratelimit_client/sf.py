"""A small reader of RFC 9651 Structured Field lists: what the IETF ``RateLimit`` fields are made of.

Only Lists of Items with Parameters (the shape of ``RateLimit`` and
``RateLimit-Policy``) are read; an Inner List, or anything else the RFC does
not allow, makes the whole field unreadable (``ValueError``), as RFC 9651
section 4.2 asks of a parser.
"""

from __future__ import annotations

import base64
import re

__all__ = ["Item", "parse_list"]

#: A bare item (str for strings and tokens, int, float, bytes, bool) and its parameters.
Item = tuple[object, dict[str, object]]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_NUMBER = re.compile(r"-?\d{1,15}(\.\d{1,3})?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


def parse_list(text: str) -> list[Item]:
    """The members of a List field (its lines already joined with ``", "``).

    Raises:
        ValueError: the field is not a List of Items as RFC 9651 reads it.
    """
    reader = _Reader(text.strip(" "))
    members: list[Item] = []
    while reader.left():
        members.append(reader.item())
        reader.skip_ows()
        if not reader.left():
            break
        reader.expect(",")
        reader.skip_ows()
        if not reader.left():
            raise ValueError("a list may not end with a comma")
    return members


class _Reader:
    __slots__ = ("at", "text")

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def left(self) -> bool:
        return self.at < len(self.text)

    def skip_ows(self) -> None:
        while self.left() and self.text[self.at] in " \t":
            self.at += 1

    def expect(self, char: str) -> None:
        if not self.left() or self.text[self.at] != char:
            raise ValueError(f"expected {char!r} at {self.at}")
        self.at += 1

    def item(self) -> Item:
        value = self.bare()
        parameters: dict[str, object] = {}
        while self.left() and self.text[self.at] == ";":
            self.at += 1
            while self.left() and self.text[self.at] == " ":
                self.at += 1
            key = self.match(_KEY, "a parameter key")
            if self.left() and self.text[self.at] == "=":
                self.at += 1
                parameters[key] = self.bare()
            else:
                parameters[key] = True
        return value, parameters

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        found = pattern.match(self.text, self.at)
        if found is None:
            raise ValueError(f"expected {what} at {self.at}")
        self.at = found.end()
        return found.group()

    def bare(self) -> object:
        if not self.left():
            raise ValueError("expected an item")
        char = self.text[self.at]
        if char == '"':
            return self.string()
        if char == "?":
            value = self.text[self.at + 1 : self.at + 2]
            if value not in ("0", "1"):
                raise ValueError("a boolean is ?0 or ?1")
            self.at += 2
            return value == "1"
        if char == ":":
            return base64.b64decode(self.match(_BYTES, "a byte sequence")[1:-1], validate=True)
        if char == "-" or char.isdigit():
            number = self.match(_NUMBER, "a number")
            return float(number) if "." in number else int(number)
        if char == "(":
            raise ValueError("an inner list is not read here")
        return self.match(_TOKEN, "a token")

    def string(self) -> str:
        out, at, text = [], self.at + 1, self.text
        while at < len(text):
            char = text[at]
            if char == "\\":
                if at + 1 >= len(text) or text[at + 1] not in '"\\':
                    raise ValueError("a string escapes only quote and backslash")
                out.append(text[at + 1])
                at += 2
            elif char == '"':
                self.at = at + 1
                return "".join(out)
            elif not " " <= char <= "~":
                raise ValueError("a string holds printable ASCII only")
            else:
                out.append(char)
                at += 1
        raise ValueError("a string must end with a quote")

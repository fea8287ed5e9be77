"""What a terminal would show of one console line: VT100/ANSI control sequences applied, then dropped.

Zephyr's shell (CONFIG_SHELL_VT100_COLORS / _COMMANDS, on by default) and ESP-IDF's logs colour their
output (``ESC[1;32m``, ``ESC[0;31m``) and Zephyr's log backend erases the prompt before each log line
(``ESC[8D ESC[J``: cursor back over the prompt, clear to end of screen). Removing only the ESC byte
leaves ``[1;32m`` in the text; this module interprets cursor moves and erases the way a terminal
does, removes every CSI, OSC and two-byte escape sequence, and drops other control characters.
"""

from __future__ import annotations

import re

# CSI: ESC [ params intermediates final; OSC: ESC ] ... (BEL | ESC \); other: ESC intermediates final (ESC ( B)
_SEQUENCE = re.compile(r"\x1b\[([0-?]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]")


def strip(text: str) -> str:
    """Every escape sequence removed (no cursor semantics): for raw spans such as a timeout's tail."""
    return "".join(ch for ch in _SEQUENCE.sub("", text) if ch == "\t" or 32 <= ord(ch) < 127)


def render(line: str) -> str:
    """The text a terminal shows for one line (no line feeds inside): CR, BS, CSI n D/C/G and
    erase-in-line/display applied; colours and other sequences removed; noise bytes dropped."""
    out: list[str] = []
    cursor = 0
    pos = 0
    while pos < len(line):
        ch = line[pos]
        if ch == "\x1b":
            m = _SEQUENCE.match(line, pos)
            if m is None:  # a lone ESC (noise or a sequence cut short): drop it
                pos += 1
                continue
            pos = m.end()
            if m.group(3) is not None:
                cursor = _csi(out, cursor, m.group(1), m.group(3))
            continue
        pos += 1
        if ch == "\r":
            cursor = 0
        elif ch == "\b":
            cursor = max(0, cursor - 1)
        elif ch == "\t" or 32 <= ord(ch) < 127:
            if cursor < len(out):
                out[cursor] = ch
            else:
                out.extend(" " * (cursor - len(out)))
                out.append(ch)
            cursor += 1
    return "".join(out).rstrip()


def _csi(out: list[str], cursor: int, params: str, final: str) -> int:
    try:
        n = int(params.split(";")[0] or "0")
    except ValueError:
        n = 0
    if final == "D":  # cursor back
        return max(0, cursor - max(n, 1))
    if final == "C":  # cursor forward
        return cursor + max(n, 1)
    if final == "G":  # cursor to column (1-based)
        return max(0, max(n, 1) - 1)
    if final in "JK":  # erase: 0 (default) = from the cursor to the end; 1 = to the cursor; 2 = all
        if n == 0:
            del out[cursor:]
        elif n == 1:
            out[:cursor] = " " * min(cursor, len(out))
        else:
            out.clear()
    return cursor

"""What "blank" means for a name, everywhere: ASCII white space only.

The API's schemas and the services strip the same characters, so a name the API accepted is never emptied later (a
name of one control character, which Python's ``str.strip`` treats as white space, once reached PostgreSQL empty and
failed its CHECK: a 500). ASCII only, so that the schema's pattern and this agree in every regex dialect a client may
use (Unicode "white space" differs between Python, JavaScript and Rust)."""

from __future__ import annotations

BLANK = " \t\n\r\v\f"  # api/schemas/common.NOT_BLANK is the schema's pattern for the same characters


def strip_blank(text: str) -> str:
    return text.strip(BLANK)

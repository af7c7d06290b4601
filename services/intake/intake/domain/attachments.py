"""What content type an attachment is served with: the stored one, unless a browser or a desktop
would run it (HTML, scripts, SVG, executables), which are only ever plain downloads."""

from __future__ import annotations

import re

DOWNLOAD_ONLY = "application/octet-stream"
# type/subtype, RFC 6838 restricted names; parameters (e.g. charset) kept only on text types.
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-javascript",
        "application/wasm",
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-ms-installer",
        "application/x-msi",
        "application/vnd.microsoft.portable-executable",
        "application/x-executable",
        "application/x-elf",
        "application/x-mach-binary",
        "application/x-sh",
        "application/x-csh",
        "application/x-bat",
        "application/x-powershell",
        "application/java-archive",
        "application/x-java-jnlp-file",
        "application/hta",
        "application/x-shockwave-flash",
        "text/x-python",
        "text/x-shellscript",
        "text/vbscript",
        "application/x-apple-diskimage",
    }
)


def served_content_type(stored: str) -> str:
    essence = stored.split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.match(essence) or essence in ACTIVE_TYPES or essence.endswith(("+xml", "+html")):
        return DOWNLOAD_ONLY
    return essence

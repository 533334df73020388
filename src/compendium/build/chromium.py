"""How the project drives Debian's Chromium: headless, through Playwright, and offline.

The browser tests (``tests/browser``) and the PDF edition (:mod:`compendium.build.pdf`) both open
the built book in ``/usr/bin/chromium``. ``playwright install`` cannot download a browser
here, so Playwright is pointed at Debian's. Host names other than this machine's do not
resolve, so a page that depends on the network fails at once instead of hanging.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    # Offline by construction: any other host fails to resolve immediately.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def require_chromium() -> Path:
    """Return Chromium's path, or raise with the command that installs it.

    Raises
    ------
    FileNotFoundError
        If ``/usr/bin/chromium`` is missing.
    """
    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install chromium")
    return CHROMIUM

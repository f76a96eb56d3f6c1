"""The login page shown before the UI when logins are on: one self-contained HTML form (no script, no assets, so
nothing else has to be reachable before a login)."""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kestrel — log in</title>
<style>
 body {{ font-family: system-ui, sans-serif; background: #0b0f19; color: #e5e7eb; display: flex;
        align-items: center; justify-content: center; min-height: 100vh; margin: 0; }}
 form {{ background: #1f2937; padding: 2rem; border-radius: 12px; width: min(22rem, 90vw); }}
 h1 {{ font-size: 1.3rem; margin: 0 0 1rem; }}
 label {{ display: block; margin: .8rem 0 .3rem; }}
 input {{ width: 100%; box-sizing: border-box; padding: .55rem; border-radius: 6px; border: 1px solid #4b5563;
         background: #111827; color: inherit; }}
 button {{ margin-top: 1.2rem; width: 100%; padding: .6rem; border: 0; border-radius: 6px; background: #ea580c;
          color: white; font-weight: 600; cursor: pointer; }}
 .error {{ color: #fca5a5; margin: 0 0 .5rem; }}
</style></head>
<body><form method="post" action="/login" id="login_form">
<h1>Kestrel</h1>
{message}
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button type="submit" id="login_button">Log in</button>
</form></body></html>
"""


def login_page(next_path: str = "/", error: str | None = None) -> bytes:
    message = f'<p class="error" id="login_error">{html.escape(error)}</p>' if error else ""
    return PAGE.format(message=message, next=html.escape(next_path, quote=True)).encode("utf-8")


def safe_next(path: str | None) -> str:
    """Only a path on this server may follow a login (no open redirect to another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or "\n" in path:
        return "/"
    return path

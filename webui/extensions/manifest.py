"""`extension.toml`: what an extension says about itself (pure: text in, a frozen Manifest or ManifestError out).

    name = "my-extension"      # letters, digits, '-' and '_'; its routes live under /ext/<name>/
    version = "1.0.0"
    api_version = 1            # the webui.extensions.api version it was written for
    entry = "main.py"          # optional: the module with setup(ctx), relative to the folder
    description = "..."        # optional
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

MANIFEST_FILE = "extension.toml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
REQUIRED_FIELDS = ("name", "version", "api_version")


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    api_version: int
    entry: str = "main.py"
    description: str = ""


def parse_manifest(text: str, offered_api_version: int) -> Manifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{MANIFEST_FILE} is not valid TOML: {error}") from None
    missing = [field for field in REQUIRED_FIELDS if field not in data]
    if missing:
        raise ManifestError(f"{MANIFEST_FILE} lacks {', '.join(missing)} (required: {', '.join(REQUIRED_FIELDS)})")
    name, version, api_version = data["name"], data["version"], data["api_version"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ManifestError(f"{MANIFEST_FILE}: name {name!r} must be 1-64 letters, digits, '-' or '_'")
    if not isinstance(version, str) or not version.strip():
        raise ManifestError(f"{MANIFEST_FILE}: version {version!r} must be a non-empty string such as \"1.0.0\"")
    if isinstance(api_version, bool) or not isinstance(api_version, int) or api_version < 1:
        raise ManifestError(f"{MANIFEST_FILE}: api_version {api_version!r} must be a whole number from 1")
    if api_version > offered_api_version:
        raise ManifestError(f"needs extension API version {api_version}; this Kestrel offers version "
                            f"{offered_api_version} — update Kestrel or use an older release of the extension")
    entry = data.get("entry", "main.py")
    if not isinstance(entry, str) or not entry.endswith(".py") or "/" in entry or "\\" in entry:
        raise ManifestError(f"{MANIFEST_FILE}: entry {entry!r} must be a .py file name in the extension's folder")
    description = data.get("description", "")
    return Manifest(name, version, api_version, entry, str(description))

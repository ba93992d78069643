"""Credential-literal scanner for the repository (tests and CI).

Scans every git-tracked file plus untracked files that are not ignored (what the next ``git add -A``
would pick up) for credential literals: Event Hubs / Service Bus SAS keys in connection strings,
storage account keys, SAS signatures, Databricks personal access tokens, Entra ID (Azure AD)
client secrets, private keys, AWS access key ids, and hard-coded password/secret assignments.

Findings never print the credential: only its kind, location and a redacted excerpt.

    python -m medallion.deploy.secret_scan [ROOT]     # exit 1 when anything is found

Secrets belong in the Key Vault-backed secret scope (see :mod:`medallion.secrets`); test code that
needs a credential-shaped value builds it at runtime or uses a value on :data:`ALLOWED_VALUES`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: (kind, pattern); the named group ``secret`` is the credential itself.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "event-hubs/service-bus SAS key",
        re.compile(r"SharedAccessKey\s*=\s*(?P<secret>[A-Za-z0-9+/=]{20,})"),
    ),
    ("storage account key", re.compile(r"AccountKey\s*=\s*(?P<secret>[A-Za-z0-9+/=]{40,})")),
    ("SAS token signature", re.compile(r"[?&]sig=(?P<secret>[A-Za-z0-9%+/=]{30,})")),
    ("Databricks personal access token", re.compile(r"\b(?P<secret>dapi[0-9a-f]{32})(?:-[0-9]+)?\b")),
    (
        "Entra ID client secret",
        re.compile(
            r"(?<![A-Za-z0-9_~.-])(?P<secret>[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])"
        ),
    ),
    ("private key", re.compile(r"(?P<secret>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----)")),
    ("AWS access key id", re.compile(r"\b(?P<secret>(?:AKIA|ASIA)[0-9A-Z]{16})\b")),
    (
        "hard-coded password/secret",
        re.compile(
            r"(?i)\b(?:password|passwd|pwd|client_secret|secret_key|access_key|account_key|api_key)\b"
            r"""["']?\s*[:=]\s*(?P<quote>["'])(?P<secret>[^"'\s]{6,})(?P=quote)"""
        ),
    ),
)

#: Known fake values (documentation examples, test placeholders) that are never credentials.
ALLOWED_VALUES: frozenset[str] = frozenset(
    {
        "abc+/=",  # the SharedAccessKey placeholder of tests/test_bronze_sources.py
        "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example access key id
    }
)
#: Repository paths (posix, relative to the root) that are not scanned. Keep this tiny.
ALLOWED_PATHS: frozenset[str] = frozenset()

#: A hard-coded password/secret whose value looks like one of these is a placeholder.
_PLACEHOLDER_CHARS = ("{", "}", "<", ">", "$", "%(", "*")
_PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "example",
    "placeholder",
    "redacted",
    "dummy",
    "your-",
    "your_",
    "xxxxxx",
)
MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str
    redacted: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.redacted}"


def redact(secret: str) -> str:
    """``dapi0123...`` -> ``dapi…(36 chars)``: enough to find it, useless to an attacker."""
    return f"{secret[:4]}…({len(secret)} chars)"


def _is_placeholder(kind: str, secret: str) -> bool:
    if secret in ALLOWED_VALUES:
        return True
    if kind != "hard-coded password/secret":
        return False
    lowered = secret.lower()
    return (
        any(c in secret for c in _PLACEHOLDER_CHARS)
        or any(w in lowered for w in _PLACEHOLDER_WORDS)
        or len(set(secret)) == 1
    )


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    """Credential literals in ``text``."""
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS:
            for match in pattern.finditer(line):
                secret = match.group("secret")
                if not _is_placeholder(kind, secret):
                    findings.append(Finding(path, number, kind, redact(secret)))
    return findings


def scan_file(path: Path, display: str | None = None) -> list[Finding]:
    """Credential literals in one file; binary and very large files are skipped."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return []
    if len(data) > MAX_FILE_BYTES or b"\0" in data[:8192]:
        return []
    return scan_text(data.decode("utf-8", errors="replace"), display or str(path))


def repo_files(root: str | Path = ".") -> list[str]:
    """Tracked files plus untracked, non-ignored ones (posix paths relative to ``root``)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 - git on PATH
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({p for p in out.decode("utf-8", errors="surrogateescape").split("\0") if p})


def scan_paths(root: str | Path, paths: Iterable[str]) -> list[Finding]:
    root = Path(root)
    findings: list[Finding] = []
    for rel in paths:
        if rel in ALLOWED_PATHS:
            continue
        findings.extend(scan_file(root / rel, rel))
    return findings


def scan_repo(root: str | Path = ".") -> list[Finding]:
    """Credential literals in every file git would commit from ``root`` (a work tree)."""
    return scan_paths(root, repo_files(root))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medallion.deploy.secret_scan",
        description="Fail when a credential literal is in a tracked or untracked, non-ignored file.",
    )
    parser.add_argument("root", nargs="?", default=".", help="git work tree to scan (default: .)")
    args = parser.parse_args(argv)
    try:
        files = repo_files(args.root)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"secret scan: cannot list the files of {args.root}: {exc}", file=sys.stderr)
        return 2
    findings = scan_paths(args.root, files)
    for finding in findings:
        print(finding)
    print(f"secret scan: {len(files)} files, {len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

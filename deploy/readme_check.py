"""Check that README.md's "Deploying" section and deploy/ agree (tests/test_deploy.py runs it; so can anyone:
`python deploy/readme_check.py`, exit 1 with each disagreement on a line).

It fails when
- the section names a file `deploy/...` that is not there, a setting that the env file example does not name
  (commented out or not), or a path on the host (/opt/budgetbot/..., /etc/budgetbot/..., /var/lib/budgetbot,
  /srv/budgetbot/..., /var/backups/budgetbot) that no file in deploy/ makes or uses;
- a unit, the env file example or deploy/setup needs a host path the section does not name, a unit sets an
  environment variable it does not name, the env file example names a setting the README does not describe, or
  a file in deploy/ is never named.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST_PREFIXES = ("/opt/budgetbot", "/etc/budgetbot", "/var/lib/budgetbot", "/srv/budgetbot", "/var/backups/budgetbot")
HOST_PATH = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(p) for p in HOST_PREFIXES) + r")((?:/[\w.@{}-]+)*)")
SETTING = re.compile(r"\b((?:BUDGETBOT|LINE|TELEGRAM)_[A-Z0-9_]*[A-Z0-9])\b")
DEPLOY_FILE = re.compile(r"(?<![\w/.-])deploy/([\w./-]*[\w])")
# Files in deploy/ whose host paths must all be in the README (what an operator installs or runs).
INSTALLED = (
    "budgetbot.service",
    "budgetbot-backup.service",
    "budgetbot-backup.timer",
    "budgetbot.env.example",
    "setup",
)
# Settings that only tests or the container set, never an operator on a host.
NOT_FOR_OPERATORS = {"LINE_API_BASE_URL", "LINE_DATA_API_BASE_URL", "TELEGRAM_API_BASE_URL", "BUDGETBOT_TODAY"}


def section(readme: str, title: str = "Deploying") -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError(f'README.md has no "## {title}" section')
    return match.group(1)


def host_paths(text: str) -> set[str]:
    return {m.group(1) + m.group(2) for m in HOST_PATH.finditer(text)}


def env_keys(example: str) -> set[str]:
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))


def deploy_files(deploy: Path) -> list[str]:
    return sorted(
        str(p.relative_to(deploy))
        for p in deploy.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
    )


def problems(readme: str, deploy: Path, repo: Path = REPO) -> list[str]:
    text = section(readme)
    out: list[str] = []
    example = (deploy / "budgetbot.env.example").read_text(encoding="utf-8")
    keys = env_keys(example)
    deploy_text = {name: (deploy / name).read_text(encoding="utf-8", errors="replace") for name in deploy_files(deploy)}
    everything = "\n".join(deploy_text.values())
    used_by_deploy = host_paths(everything)

    # The README names what deploy/ lacks.
    for name in sorted(set(DEPLOY_FILE.findall(text))):
        if not (deploy / name).exists():
            out.append(f"README names deploy/{name}, which is not there")
    for name in sorted(set(SETTING.findall(text))):
        if name not in keys:
            out.append(f"README's Deploying names {name}, which deploy/budgetbot.env.example does not")
    for path in sorted(host_paths(text)):
        if path.startswith("/opt/budgetbot/"):
            first = path.removeprefix("/opt/budgetbot/").split("/")[0]
            if first != ".venv" and not (repo / first).exists():
                out.append(f"README names {path}, but the checkout has no {first}")
            continue
        parent = path.rsplit("/", 1)[0]
        if path not in used_by_deploy and not any(p == parent for p in used_by_deploy):
            out.append(f"README names {path}, which nothing in deploy/ makes or uses")

    # deploy/ needs what the README does not name.
    named_paths = host_paths(text)
    for name in INSTALLED:
        for path in sorted(host_paths(deploy_text.get(name, ""))):
            if path.startswith("/opt/budgetbot/"):  # a file of the checkout: the README names the checkout
                first = path.removeprefix("/opt/budgetbot/").split("/")[0]
                if first != ".venv" and not (repo / first).exists():
                    out.append(f"deploy/{name} needs {path}, but the checkout has no {first}")
                continue
            if path not in named_paths and not any(n.startswith(path + "/") for n in named_paths):
                out.append(f"deploy/{name} needs {path}, which README's Deploying does not name")
    for name in INSTALLED:
        if not name.endswith((".service", ".timer")):
            continue
        for line in deploy_text.get(name, "").splitlines():
            if line.startswith("Environment="):
                for assignment in line.removeprefix("Environment=").split():
                    key = assignment.split("=", 1)[0]
                    if key not in text:
                        out.append(f"deploy/{name} sets {key}, which README's Deploying does not name")
    for key in sorted(keys - NOT_FOR_OPERATORS):
        if not re.search(rf"`{key}`|\b{key}\b", readme):
            out.append(f"deploy/budgetbot.env.example has {key}, which the README does not describe")
    for name in deploy_files(deploy):
        if name.endswith(".py") and name != "readme_check.py":
            continue  # modules run by the commands named (database_backup.py by deploy/backup)
        if f"deploy/{name}" not in readme:
            out.append(f"deploy/{name} is never named in the README")
    return out


def main() -> int:
    found = problems((REPO / "README.md").read_text(encoding="utf-8"), REPO / "deploy")
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

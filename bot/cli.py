"""`budgetbot`: ask, chat, serve, check the knowledge, evaluate, and channel set-up commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from bot import __version__
from bot.settings import Settings, settings_problems


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="budgetbot", description="Budget-guidance assistant (DGA integration plan)")
    p.add_argument("--version", action="version", version=f"budgetbot {__version__}")
    p.add_argument(
        "--knowledge",
        type=Path,
        default=None,
        help="knowledge directory (default: BUDGETBOT_KNOWLEDGE_DIR or ./knowledge)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer a question, or each line of stdin")
    ask.add_argument("question", nargs="?", help="the question; omitted: read one question a line from stdin")
    ask.add_argument("--json", action="store_true", help="print JSON (one object a line)")
    ask.add_argument("--today", type=_date, default=None, help="fix today's date (YYYY-MM-DD)")

    chat = sub.add_parser("chat", help="interactive chat in the terminal")
    chat.add_argument("--today", type=_date, default=None)

    serve = sub.add_parser("serve", help="run the web service (webhooks, console, JSON API)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")

    kb = sub.add_parser("kb", help="knowledge base tools")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", help="validate the knowledge base")
    check.add_argument("directory", nargs="?", type=Path, default=None)
    check.add_argument(
        "--sources-dir",
        type=Path,
        default=None,
        help="where the source documents are (default: BUDGETBOT_SOURCES_DIR, else ../shared/sources)",
    )

    ev = sub.add_parser("eval", help="run an evaluation set and report accuracy")
    ev.add_argument(
        "file", nargs="?", type=Path, default=None, help="a case file, a writer's file, or a folder of writers' files"
    )
    ev.add_argument("--verbose", action="store_true", help="list every miss, with the intent that answered")
    ev.add_argument(
        "--held-out",
        action="store_true",
        help="writers' files only: answer each writer with a router trained without that writer (needs the test extra)",
    )

    line = sub.add_parser("line", help="LINE channel set-up")
    line_sub = line.add_subparsers(dest="line_command", required=True)
    rm = line_sub.add_parser(
        "rich-menu", help="create the rich menu and make it the default, deleting the ones it made before"
    )
    rm.add_argument(
        "--image-out", type=Path, default=None, help="write the image here as a preview (only that, with no token)"
    )

    tg = sub.add_parser("telegram", help="Telegram channel set-up")
    tg_sub = tg.add_subparsers(dest="telegram_command", required=True)
    sw = tg_sub.add_parser("set-webhook", help="register the webhook URL (with the secret token)")
    sw.add_argument("url")

    rv = sub.add_parser("review", help="unanswered and low-confidence questions, grouped")
    rv.add_argument("--days", type=int, default=7)
    rv.add_argument("--limit", type=int, default=50)
    rv.add_argument("--yaml", type=Path, default=None, help="write the groups as YAML stubs to this file")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if args.knowledge is not None:
        settings = settings.model_copy(update={"knowledge_dir": args.knowledge})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "serve" and hasattr(signal, "SIGPIPE"):
        # `budgetbot eval | head` should end quietly, like any Unix filter, not with a BrokenPipeError.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        settings = _settings(args)
    except ValidationError as exc:  # a bad environment variable: name it, do not dump a traceback
        for problem in settings_problems(exc):
            print(f"budgetbot: invalid setting: {problem}", file=sys.stderr)
        return 2
    if args.command == "ask":
        from bot.terminal import run_ask

        return run_ask(settings, args.question, as_json=args.json, today=args.today or settings.today)
    if args.command == "chat":
        from bot.terminal import run_chat

        return run_chat(settings, today=args.today or settings.today)
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers)
    if args.command == "kb":
        from bot.knowledge.check import run_check

        return run_check(args.directory or settings.knowledge_dir, sources_dir=args.sources_dir or settings.sources_dir)
    if args.command == "eval":
        from bot.evaluation import run_eval

        return run_eval(settings, args.file, verbose=args.verbose, held_out=args.held_out)
    if args.command == "line":
        from handlers.line_richmenu import create_rich_menu

        return asyncio.run(create_rich_menu(settings, image_out=args.image_out))
    if args.command == "telegram":
        from handlers.telegram import set_webhook

        return asyncio.run(set_webhook(settings, args.url))
    if args.command == "review":
        from bot.review import run_review

        return run_review(settings, days=args.days, limit=args.limit, yaml_out=args.yaml)
    return 2


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    problems = settings.startup_problems()
    if problems:
        for problem in problems:
            print(f"budgetbot: cannot start: {problem}", file=sys.stderr)
        return 2
    from bot.knowledge.loader import KnowledgeLoadError, load_knowledge

    try:  # a broken knowledge base: say which file and line, here, rather than as a start-up traceback
        load_knowledge(settings.knowledge_dir, settings.sources_dir)  # the cited documents too
    except KnowledgeLoadError as exc:
        print(f"budgetbot: cannot start: the knowledge base has errors:\n{exc}", file=sys.stderr)
        return 2
    import uvicorn

    from handlers.http_edge import raise_file_limit, uvicorn_options

    raise_file_limit()  # every connection is a file descriptor; the default soft limit is often 1,024
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    console_url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    edge = uvicorn_options(settings, workers=workers)
    options = {"host": host, "port": port, "log_config": None, "access_log": False, **edge}
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal with the handler it found: with the
    # default one the process would die "killed by SIGTERM" after a clean shutdown. Exit 0 instead.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if workers > 1:
        from handlers.metrics import prepare_multiprocess

        prepare_multiprocess()  # every worker's figures in /metrics, whichever worker is asked
        os.environ["BUDGETBOT_CONSOLE_URL"] = console_url  # the port is bound before the workers start
        # Several workers need an import string; settings come from the environment in each.
        uvicorn.run("handlers.app:create_app", factory=True, workers=workers, **options)
        return 0
    from handlers.app import create_app
    from handlers.logs import serve_until_stopped

    return serve_until_stopped(create_app(settings), console_url, options)  # "ready" once the port is bound


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())

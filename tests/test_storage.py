"""The storage layer on SQLite and PostgreSQL: schema migrations, exactly-once event claims (also across
processes), conversation memory with expiry, a question log without raw user ids, and clean-up."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text, update
from sqlalchemy.exc import OperationalError

from bot.answer import Answer, AnswerKind
from bot.conversation import ConversationState
from bot.settings import Settings
from bot.storage import (
    Database,
    SqlConversationStore,
    SqlEventLedger,
    SqlQuestionLog,
    hash_user,
    normalize_url,
    open_database,
)
from bot.storage.models import Base, Conversation, ProcessedEvent, QuestionLogEntry
from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[1]
TABLES = {"processed_events", "conversations", "question_log"}
SALT = "test-salt"
LINE_USER = "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "data", "database_url": None, "user_hash_salt": SALT}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _logged(question: str, *, user: str = LINE_USER, at: datetime | None = None, **answer: object):  # type: ignore[no-untyped-def]
    from bot.service import LoggedQuestion  # imports the assistant: only when a test records questions

    fields: dict[str, object] = {"kind": AnswerKind.FAQ, "text": "ตอบ", "confidence": 0.9}
    fields.update(answer)
    return LoggedQuestion(at or datetime.now(timezone.utc), "line", user, question, Answer(**fields))  # type: ignore[arg-type]


def _all_values(db: Database) -> str:
    """Every value in every table, as one string: what someone reading the database would see."""
    parts: list[str] = []
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


# --- URLs and start-up -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/bot", "postgresql+psycopg://u:p@db:5432/bot"),
        ("postgresql://u@db/bot?sslmode=require", "postgresql+psycopg://u@db/bot?sslmode=require"),
        ("postgresql+psycopg://u@db/bot", "postgresql+psycopg://u@db/bot"),
        ("sqlite:////var/lib/budgetbot/budgetbot.sqlite3", "sqlite:////var/lib/budgetbot/budgetbot.sqlite3"),
    ],
)
def test_postgres_urls_use_the_psycopg_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        Database("mysql://u@db/bot")
    with pytest.raises(ValueError, match="file path"):
        Database("sqlite://")  # in memory: not shared between threads or instances


def test_first_start_creates_the_sqlite_file_under_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    settings = _settings(tmp_path, data_dir=data_dir)
    db = open_database(settings)
    try:
        assert (data_dir / "budgetbot.sqlite3").is_file()
        assert db.current_revision() == db.head_revision()
        with db.engine.connect() as connection:
            # WAL and a busy timeout let a second process share the file.
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        db.dispose()


def test_migrations_create_the_schema_and_are_idempotent(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not TABLES & set(inspect(db.engine).get_table_names())
        db.migrate()
        assert TABLES | {"alembic_version"} <= set(inspect(db.engine).get_table_names())
        assert db.current_revision() == db.head_revision() == "0004"
        db.migrate()  # a restart: nothing to do, nothing breaks
        assert db.current_revision() == "0004"
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("question_log")}
        assert "ix_question_log_asked_at" in indexes
        # The migrations build exactly what the models describe.
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_instances_starting_together_migrate_once(database_url: str) -> None:
    """Several instances starting at once on one database: none fails, the schema ends up at head."""
    dbs = [Database(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(dbs))
    errors: list[BaseException] = []

    def start(db: Database) -> None:
        barrier.wait()
        try:
            db.migrate()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        assert all(db.current_revision() == "0004" for db in dbs)
    finally:
        for db in dbs:
            db.dispose()


def test_ping_tells_whether_the_database_answers(database: Database) -> None:
    assert database.ping() is True
    down = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        started = time.monotonic()
        assert down.ping() is False
        assert time.monotonic() - started < 10
        # Calls raise when the database is down (the service catches that and degrades).
        with pytest.raises(OperationalError):
            asyncio.run(SqlEventLedger(down).claim("line", "e1"))
    finally:
        down.dispose()


# --- processed events ------------------------------------------------------------------------------------


def test_an_event_is_claimed_once(database: Database) -> None:
    ledger = SqlEventLedger(database)

    async def scenario() -> list[bool]:
        return [
            await ledger.claim("line", "01HZXK5W8Q"),
            await ledger.claim("line", "01HZXK5W8Q"),  # LINE redelivery
            await ledger.claim("line", "01HZXK5W8Q"),
            await ledger.claim("telegram", "01HZXK5W8Q"),  # ids are per channel
            await ledger.claim("line", "01HZXK5W8R"),
        ]

    assert asyncio.run(scenario()) == [True, False, False, True, True]


def test_concurrent_claims_of_one_event_give_exactly_one_true(database_url: str) -> None:
    # Two Database objects: two instances, each with its own connection pool.
    first, second = Database(database_url), Database(database_url)
    first.migrate()
    ledgers = [SqlEventLedger(first), SqlEventLedger(second)]

    async def scenario() -> list[list[bool]]:
        rounds = []
        for n in range(5):
            claims = [ledgers[i % 2].claim("line", f"evt-{n}") for i in range(16)]
            rounds.append(list(await asyncio.gather(*claims)))
        return rounds

    try:
        for results in asyncio.run(scenario()):
            assert results.count(True) == 1, results
    finally:
        first.dispose()
        second.dispose()


def test_two_processes_claim_each_event_exactly_once(database_url: str, tmp_path: Path) -> None:
    """Two server processes on one database, both receiving the same 150 events: each is handled once."""
    Database(database_url).migrate()
    script = textwrap.dedent(
        """
        import asyncio, json, random, sys, time
        from bot.storage import Database, SqlEventLedger

        url, start_at, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
        ledger = SqlEventLedger(Database(url))
        ids = [f"evt-{n}" for n in range(150)]
        random.Random(seed).shuffle(ids)

        async def main():
            won = []
            for chunk in range(0, len(ids), 10):
                batch = ids[chunk:chunk + 10]
                results = await asyncio.gather(*(ledger.claim("line", i) for i in batch))
                won += [i for i, ok in zip(batch, results) if ok]
            return won

        time.sleep(max(0.0, start_at - time.time()))  # start together
        print(json.dumps(asyncio.run(main())))
        """
    )
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, str(start_at), str(seed)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    won: list[list[str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        won.append(json.loads(out.strip().splitlines()[-1]))
    assert not set(won[0]) & set(won[1])
    assert sorted(won[0] + won[1]) == sorted(f"evt-{n}" for n in range(150))


def test_an_expired_event_can_be_claimed_again_and_is_purged(database: Database) -> None:
    ledger = SqlEventLedger(database, ttl=timedelta(days=7))
    assert ledger.claim_sync("telegram", "123456")
    assert ledger.claim_sync("telegram", "777")
    with database.engine.begin() as connection:
        connection.execute(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == "123456")
            .values(seen_at=datetime.now(timezone.utc) - timedelta(days=8))
        )
    # Telegram's update ids can restart after a long pause: an id that old is a new update.
    assert ledger.claim_sync("telegram", "123456") is True
    assert ledger.claim_sync("telegram", "123456") is False
    assert ledger.claim_sync("telegram", "777") is False


def test_odd_event_ids_never_break_a_claim(database: Database) -> None:
    ledger = SqlEventLedger(database)
    for event_id in ["", "x" * 5000, "nul\x00byte", "lone\ud800surrogate", "ไทย 🙂"]:
        assert ledger.claim_sync("line", event_id) is True
        assert ledger.claim_sync("line", event_id) is False


# --- conversations ---------------------------------------------------------------------------------------


def test_conversation_state_round_trips_between_instances(database: Database) -> None:
    state = ConversationState(
        last_kind=AnswerKind.GUIDED_CHECK,
        fiscal_year=2569,
        guideline=2,
        entry_id="faq-apply",
        flow="project_check",
        flow_step="description",
        project_description="ระบบจองคิวออนไลน์ของกรม",
    )
    asyncio.run(SqlConversationStore(database, salt=SALT).save(f"line:{LINE_USER}", state))

    # Another instance (its own engine) continues the conversation.
    other = Database(database.url)
    try:
        store = SqlConversationStore(other, salt=SALT)
        loaded = asyncio.run(store.load(f"line:{LINE_USER}"))
        assert loaded is not None
        assert loaded.model_dump(exclude={"updated_at"}) == state.model_dump(exclude={"updated_at"})
        assert asyncio.run(store.load(f"telegram:{LINE_USER}")) is None
        # Saving again replaces the state.
        asyncio.run(store.save(f"line:{LINE_USER}", ConversationState(fiscal_year=2570)))
        again = asyncio.run(store.load(f"line:{LINE_USER}"))
        assert again is not None and again.fiscal_year == 2570 and again.flow is None
    finally:
        other.dispose()
    assert LINE_USER not in _all_values(database)  # keys are hashed too


def test_conversation_state_expires(database: Database) -> None:
    store = SqlConversationStore(database, salt=SALT, ttl_seconds=30 * 60)
    key = f"line:{LINE_USER}"
    store.save_sync(key, ConversationState(fiscal_year=2568))
    assert store.load_sync(key) is not None
    with database.engine.begin() as connection:
        connection.execute(update(Conversation).values(updated_at=datetime.now(timezone.utc) - timedelta(minutes=31)))
    assert store.load_sync(key) is None
    store.save_sync(key, ConversationState(fiscal_year=2569))  # a new conversation starts
    loaded = store.load_sync(key)
    assert loaded is not None and loaded.fiscal_year == 2569


def test_unreadable_conversation_state_starts_afresh(database: Database) -> None:
    store = SqlConversationStore(database, salt=SALT)
    store.save_sync("console:s1", ConversationState(fiscal_year=2568))
    with database.engine.begin() as connection:
        connection.execute(update(Conversation).values(state='{"fiscal_year": "not a year"}'))
    assert store.load_sync("console:s1") is None


# --- question log ----------------------------------------------------------------------------------------


def test_question_log_stores_a_hash_never_the_raw_user_id(database: Database) -> None:
    log = SqlQuestionLog(database, salt=SALT)
    asked_at = datetime(2026, 11, 21, 3, 4, 5, tzinfo=timezone.utc)
    asyncio.run(
        log.record(
            _logged(
                "ปีงบ 2569 ยื่นได้ถึงเมื่อไหร่ครับ",
                at=asked_at,
                kind=AnswerKind.FISCAL_YEAR_STATUS,
                confidence=0.82,
                fiscal_year=2569,
                guideline=1,
                entry_id="fy-2569",
                knowledge_version="kb-abc123",
            )
        )
    )
    asyncio.run(log.record(_logged("ขอบคุณครับ", kind=AnswerKind.FALLBACK, confidence=0.1)))
    asyncio.run(log.record(_logged("สวัสดี", user="U_someone_else")))

    with database.engine.connect() as connection:
        rows = connection.execute(select(QuestionLogEntry).order_by(QuestionLogEntry.id)).mappings().all()
    assert len(rows) == 3
    first = rows[0]
    assert first["user_hash"] == hash_user(LINE_USER, SALT)
    assert len(first["user_hash"]) == 64 and int(first["user_hash"], 16) >= 0
    assert rows[1]["user_hash"] == first["user_hash"]  # the same user is recognisable across questions
    assert rows[2]["user_hash"] != first["user_hash"]
    assert hash_user(LINE_USER, "another-salt") != first["user_hash"]  # the salt matters
    assert first["asked_at"] == asked_at
    assert first["channel"] == "line"
    assert first["question"] == "ปีงบ 2569 ยื่นได้ถึงเมื่อไหร่ครับ"
    assert first["normalized_question"]
    assert (first["answer_kind"], first["entry_id"], first["fiscal_year"], first["guideline"]) == (
        "fiscal_year_status",
        "fy-2569",
        2569,
        1,
    )
    assert first["confidence"] == pytest.approx(0.82)
    assert first["knowledge_version"] == "kb-abc123"
    assert rows[1]["answer_kind"] == "fallback"

    # Nowhere in the database, not even in the SQLite file itself.
    assert LINE_USER not in _all_values(database)
    if database.sqlite_path is not None:
        for path in database.sqlite_path.parent.glob(database.sqlite_path.name + "*"):
            assert LINE_USER.encode() not in path.read_bytes(), path


def test_question_log_keeps_odd_text(database: Database) -> None:
    log = SqlQuestionLog(database, salt=SALT)
    log.record_sync(_logged("a\x00b\ud800c " + "ก" * 20_000))
    with database.engine.connect() as connection:
        stored = connection.execute(select(QuestionLogEntry.question)).scalar_one()
    assert stored.startswith("a") and len(stored) <= 5_000


# --- clean-up ----------------------------------------------------------------------------------------------


def test_purge_removes_old_rows_and_keeps_new_ones(database: Database, tmp_path: Path) -> None:
    settings = _settings(tmp_path, conversation_ttl_minutes=30, log_retention_days=180)
    now = datetime.now(timezone.utc)
    ledger = SqlEventLedger(database)
    conversations = SqlConversationStore.from_settings(database, settings)
    log = SqlQuestionLog.from_settings(database, settings)

    for event_id in ("old-event", "new-event"):
        ledger.claim_sync("line", event_id)
    for key in ("line:old", "line:new"):
        conversations.save_sync(key, ConversationState(fiscal_year=2568))
    log.record_sync(_logged("คำถามเก่า", at=now - timedelta(days=181)))
    log.record_sync(_logged("คำถามใหม่", at=now - timedelta(days=179)))
    with database.engine.begin() as connection:
        connection.execute(
            update(ProcessedEvent).where(ProcessedEvent.event_id == "old-event").values(seen_at=now - timedelta(days=8))
        )
        connection.execute(
            update(Conversation)
            .where(Conversation.key == hash_user("line:old", SALT))
            .values(updated_at=now - timedelta(minutes=31))
        )

    result = database.purge(settings)
    assert (result.events, result.conversations, result.questions) == (1, 1, 1)

    with database.engine.connect() as connection:
        assert connection.execute(select(ProcessedEvent.event_id)).scalars().all() == ["new-event"]
        assert connection.execute(select(Conversation.key)).scalars().all() == [hash_user("line:new", SALT)]
        assert connection.execute(select(QuestionLogEntry.question)).scalars().all() == ["คำถามใหม่"]
    assert conversations.load_sync("line:new") is not None
    assert log.purge_old(30) == 1  # a shorter retention asked for directly
    assert database.purge(settings) == type(result)(0, 0, 0)


# --- with the service --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def knowledge_runtime():  # type: ignore[no-untyped-def]
    from bot.knowledge.runtime import KnowledgeRuntime

    return KnowledgeRuntime(REPO / "knowledge")


def test_service_remembers_and_logs_through_the_database(database: Database, knowledge_runtime) -> None:  # type: ignore[no-untyped-def]
    """Two instances (own engines) on one database: a conversation started on one continues on the other."""
    from bot.service import AssistantService

    settings = Settings(_env_file=None, user_hash_salt=SALT)  # type: ignore[call-arg]
    other_db = Database(database.url)

    def service(db: Database) -> AssistantService:
        return AssistantService(
            knowledge_runtime,
            conversations=SqlConversationStore.from_settings(db, settings),
            ledger=SqlEventLedger(db),
            question_log=SqlQuestionLog.from_settings(db, settings),
        )

    a, b = service(database), service(other_db)

    async def scenario() -> list[object]:
        return [
            await a.claim_event("line", "01J0000000000000000000000A"),
            await b.claim_event("line", "01J0000000000000000000000A"),  # the redelivery reached instance b
            await a.ask("โครงการเราขอได้ไหม", channel="line", user=LINE_USER),  # starts the guided check
            await b.ask("ระบบจองคิวออนไลน์ของกรม", channel="line", user=LINE_USER),  # its answer, on b
            await b.ask("ระบบจองคิวออนไลน์ของกรม", channel="line", user="U_new_user"),  # no context
        ]

    try:
        first, again, start, step, out_of_context = asyncio.run(scenario())
    finally:
        other_db.dispose()
    assert (first, again) == (True, False)
    assert start.kind == AnswerKind.GUIDED_CHECK  # type: ignore[attr-defined]
    # b knew the conversation was in the guided check: the description was taken as an answer to it.
    assert step.kind == AnswerKind.GUIDED_CHECK  # type: ignore[attr-defined]
    assert out_of_context.kind != AnswerKind.GUIDED_CHECK  # type: ignore[attr-defined]
    with database.engine.connect() as connection:
        logged = connection.execute(
            select(QuestionLogEntry.question, QuestionLogEntry.user_hash).order_by(QuestionLogEntry.id)
        ).all()
    assert [q for q, _ in logged] == ["โครงการเราขอได้ไหม", "ระบบจองคิวออนไลน์ของกรม", "ระบบจองคิวออนไลน์ของกรม"]
    assert logged[0].user_hash == logged[1].user_hash == hash_user(LINE_USER, SALT)
    assert LINE_USER not in _all_values(database)


def test_service_still_answers_when_the_database_is_down(knowledge_runtime) -> None:  # type: ignore[no-untyped-def]
    from bot.service import AssistantService

    down = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    service = AssistantService(
        knowledge_runtime,
        conversations=SqlConversationStore(down, salt=SALT),
        ledger=SqlEventLedger(down),
        question_log=SqlQuestionLog(down, salt=SALT),
    )
    try:
        answer = asyncio.run(service.ask("ปีงบ 2570 ยื่นได้ไหม", channel="line", user=LINE_USER))
        assert answer.text.strip()
    finally:
        down.dispose()


def test_head_revision_constant_matches_the_migration_scripts(tmp_path: Path) -> None:
    """Start-up skips alembic when the database is at HEAD_REVISION: it must be the scripts' real head."""
    from bot.storage.database import HEAD_REVISION, Database

    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        assert db.head_revision() == HEAD_REVISION
    finally:
        db.dispose()

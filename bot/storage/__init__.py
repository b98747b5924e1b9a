"""Persistence: processed webhook events, conversation state and the question log, in one SQL database.

db = open_database(settings)          # SQLite under BUDGETBOT_DATA_DIR, or BUDGETBOT_DATABASE_URL; migrated
service = AssistantService(
    provider,
    conversations=SqlConversationStore.from_settings(db, settings),
    ledger=SqlEventLedger(db),
    question_log=SqlQuestionLog.from_settings(db, settings),
)
task = asyncio.create_task(purge_periodically(db, settings))   # expiry and retention
ready = await asyncio.to_thread(db.ping)                       # /readyz
db.dispose()                                                    # shutdown
"""

from bot.storage.database import Database, PurgeResult, normalize_url, open_database, purge_periodically
from bot.storage.stores import (
    EVENT_TTL,
    BufferedQuestionLog,
    SqlConversationStore,
    SqlEventLedger,
    SqlQuestionLog,
    hash_user,
    normalize_question,
)

__all__ = [
    "EVENT_TTL",
    "BufferedQuestionLog",
    "Database",
    "PurgeResult",
    "SqlConversationStore",
    "SqlEventLedger",
    "SqlQuestionLog",
    "hash_user",
    "normalize_question",
    "normalize_url",
    "open_database",
    "purge_periodically",
]

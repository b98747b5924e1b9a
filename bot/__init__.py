"""Channel-neutral core of the budget-guidance assistant.

Nothing in this package imports a chat SDK: handlers/ adapts the core to LINE, Telegram and the web console.
"""

"""Channel adapters (LINE, Telegram, web console) and the FastAPI service that hosts them."""

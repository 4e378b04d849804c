"""Front ends of feedqa: the command line, the REPL and the Telegram bot. No retrieval logic here."""

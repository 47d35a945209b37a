"""The local web chat: a chat workspace in the browser, on the same core and database."""

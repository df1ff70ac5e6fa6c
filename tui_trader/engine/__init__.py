"""The engine: journal, reconciliation, the reactive store and the asyncio tasks that drive
scanning, trading and exits. Imports ``core`` (and ``broker`` for I/O), never Textual."""

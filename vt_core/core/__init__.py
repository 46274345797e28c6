"""What every workflow stands on, one public module per concept: config (settings from the
environment), store (the database and its migrations), llm (one client for every backend, with its
call log and cache), prompts (templates as files), progress (callbacks for long work), design
(counterbalanced orders, derived seeds), text (Markdown escaping, prompt sections), charts (shared
chart style) and access (who may see the staff pages). Import them by module."""

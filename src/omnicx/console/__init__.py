"""The web console: server-rendered pages (Jinja2, htmx, ECharts) under `/console`, in the
reader's language, each page and action guarded by the permission policy the admin API uses
(`omnicx.access.permissions`). See docs/console.md."""

"""The kernel's default behaviour, written as ordinary plugins (registered without
entry points, before any installed plugin)."""

"""Handles: the name in `/@name`, its naming rules, and which handles a caller may see."""

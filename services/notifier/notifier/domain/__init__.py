"""Notification rules: who hears about what, when. Pure Python, no framework imports."""

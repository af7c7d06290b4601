"""The ticket aggregate and its rules: pure Python, no framework imports."""

"""Textual front ends: the interactive inspector (app.py) and the training dashboard (dashboard.py)."""

"""Screens of the inspector: the checkpoint picker and the help screen."""

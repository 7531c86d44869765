"""Screens of the inspector: the views, the checkpoint picker and the help screen."""

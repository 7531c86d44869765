"""``rnngen tui``: the interactive inspector.

app.py       InspectApp: workers that open, sample and inspect; answers the views' messages
state.py     InspectorState: what is open, what it read, the selection (plain data)
messages.py  what the workers report and what the views ask for
views.py     the four views (Sample, Hidden, Gates, Gradient), drawn from the state
viewbar.py   the top line: the views and the status
"""
